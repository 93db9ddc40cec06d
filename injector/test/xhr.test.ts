import { test } from "node:test";
import assert from "node:assert/strict";
import { UserConfig } from "../src/config";
import { wrapXHR } from "../src/xhr";
import { manager } from "../src/tokens";
import { Answer, counted, deps, fakeXHR, FakeClock, flush, Sent, stubProver } from "./util";

const page = "https://app.example.com/";

function setup(answer: (s: Sent) => Answer, user: UserConfig = {}) {
  const { m: tokens, issued } = counted();
  const { X: Raw, sent } = fakeXHR(answer);
  const Orig = Raw as unknown as { new (): XMLHttpRequest; prototype: XMLHttpRequest };
  const d = deps(tokens, page, user);
  const X = wrapXHR(Orig, d);
  return { X, Orig, sent, tokens, count: issued, d };
}

/** Runs one request like jQuery does (handlers set after open) and resolves with what the app saw. */
function run(X: { new (): XMLHttpRequest }, method: string, url: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; text: string; changes: number[]; loads: number }>((resolve) => {
    const x = new X();
    const changes: number[] = [];
    let loads = 0;
    x.open(method, url);
    for (const k in headers) x.setRequestHeader(k, headers[k]);
    x.addEventListener("readystatechange", () => changes.push(x.readyState));
    x.onload = () => loads++;
    x.addEventListener("loadend", () => resolve({ status: x.status, text: x.responseText, changes, loads }));
    x.send(body);
  });
}

const ok = () => ({ status: 200, body: "ok" });

test("XHR POST gets the header (waiting for the first token), GET does not", async () => {
  const { X, sent } = setup(ok);
  await run(X, "POST", "/api", "b", { "X-A": "1" });
  await run(X, "POST", "/api", "b");
  await run(X, "GET", "/api");
  await run(X, "POST", "https://api.example.com.evil.net/x");
  assert.deepEqual(sent.map((s) => s.headers.authorization), ["Bearer tok1", "Bearer tok1", undefined, undefined]);
  assert.equal(sent[0].headers["x-a"], "1");
  assert.equal(sent[0].body, "b");
});

test("XHR: the app's own Authorization is kept; a stale one of ours is replaced, never appended", async () => {
  const { X, sent, tokens } = setup(ok);
  await run(X, "POST", "/api", "", { Authorization: "Basic abc" });
  await tokens.get();
  await tokens.refresh("tok1");
  await run(X, "POST", "/api", "", { Authorization: "Bearer tok1" });
  assert.deepEqual(sent.map((s) => s.headers.authorization), ["Basic abc", "Bearer tok2"]);
});

test("XHR: 401 invalid_token is refreshed and re-sent with the same body; the app sees only the success", async () => {
  const answer = (s: Sent): Answer =>
    s.headers.authorization === "Bearer tok1" ? { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } } : { status: 200, body: "ok:" + s.body };
  const { X, sent, count } = setup(answer);
  const seen = await run(X, "POST", "/api", "payload", { "X-Keep": "k" });
  assert.equal(seen.status, 200);
  assert.equal(seen.text, "ok:payload");
  assert.equal(seen.loads, 1, "one load event");
  assert.ok(!seen.changes.includes(0));
  assert.equal(seen.changes.filter((s) => s === 4).length, 1, "one DONE");
  assert.equal(sent.length, 2);
  assert.deepEqual(sent.map((s) => s.headers.authorization), ["Bearer tok1", "Bearer tok2"]);
  assert.equal(sent[1].body, "payload");
  assert.equal(sent[1].headers["x-keep"], "k");
  assert.equal(count(), 2);
});

test("XHR: JWT Expired body is replayed; other 401s and a second rejection reach the app", async () => {
  const jwt = setup((s) => (s.headers.authorization === "Bearer tok1" ? { status: 401, body: "JWT Expired" } : ok()));
  assert.equal((await run(jwt.X, "POST", "/api")).status, 200);
  const other = setup(() => ({ status: 401, body: "who are you" }));
  const r = await run(other.X, "POST", "/api");
  assert.equal(r.status, 401);
  assert.equal(other.sent.length, 1);
  const always = setup(() => ({ status: 401, body: "JWT Expired" }));
  const a = await run(always.X, "POST", "/api");
  assert.equal(a.status, 401);
  assert.equal(a.loads, 1, "the app still gets its load event");
  assert.equal(always.sent.length, 2);
});

test("XHR: abort before the token arrives sends nothing", async () => {
  const { X, sent } = setup(ok);
  const x = new X();
  x.open("POST", "/api");
  x.send("b");
  x.abort();
  await flush();
  await flush();
  assert.equal(sent.length, 0);
});

test("XHR: 50 concurrent POSTs with a rejected token cause one refresh", async () => {
  let valid = "";
  const { X, sent, tokens, count } = setup((s) => (s.headers.authorization === "Bearer " + valid ? ok() : { status: 401, body: "JWT Expired" }));
  await tokens.get();
  valid = "tok2";
  const res = await Promise.all(Array.from({ length: 50 }, (_, i) => run(X, "POST", "/api", String(i))));
  assert.ok(res.every((r) => r.status === 200));
  assert.equal(count(), 2);
  assert.equal(sent.length, 100);
});

test("XHR: synchronous requests use the cached token and are never replayed", async () => {
  const { X, sent, tokens } = setup(() => ({ status: 401, body: "JWT Expired" }));
  const x = new X();
  x.open("POST", "/api", false);
  x.send("b");
  assert.equal(x.status, 401);
  assert.equal(sent[0].headers.authorization, undefined, "no token cached yet: sent without");
  await tokens.get();
  const y = new X();
  let loads = 0;
  y.open("POST", "/api", false);
  y.onload = () => loads++;
  y.send("b");
  assert.equal(y.status, 401);
  assert.equal(loads, 1, "the app sees the answer");
  await flush();
  await flush();
  assert.equal(sent.length, 2, "no replay");
  assert.equal(sent[1].headers.authorization, "Bearer tok1");
});

test("XHR: listeners the app added before open() do not see the rejected answer", async () => {
  const answer = (s: Sent): Answer => (s.headers.authorization === "Bearer tok1" ? { status: 401, body: "JWT Expired" } : { status: 200, body: "ok" });
  const { X, tokens } = setup(answer);
  await tokens.get();
  const x = new X();
  assert.ok(x instanceof X);
  const seen: string[] = [];
  x.addEventListener("readystatechange", () => x.readyState === 4 && seen.push("rs4:" + x.status));
  const done = new Promise<void>((resolve) =>
    x.addEventListener("load", () => {
      seen.push("load:" + x.status);
      resolve();
    }),
  );
  x.open("POST", "/api");
  x.send("b");
  await done;
  assert.deepEqual(seen, ["rs4:200", "load:200"]);
});

test("XHR: an instance from the constructor saved before wrapping is still decorated", async () => {
  const { Orig, sent } = setup(ok);
  const x = new Orig();
  await new Promise<void>((resolve) => {
    x.open("POST", "/api");
    x.addEventListener("loadend", () => resolve());
    x.send("b");
  });
  assert.equal(sent[0].headers.authorization, "Bearer tok1");
});

test("XHR dpop: a fresh proof per sending; use_dpop_nonce is re-sent once with the new nonce, unseen by the app", async () => {
  const nonceAnswer = (n: string): Answer => ({ status: 401, headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": n }, body: "nonce" });
  let calls = 0;
  const { X, sent, d } = setup((s) => (++calls === 1 ? nonceAnswer("n2") : calls === 3 || calls === 4 ? nonceAnswer("n3") : { status: 200, body: "ok:" + s.body }));
  stubProver(d);
  const a = await run(X, "POST", "/api/a", "1", { "X-Keep": "k" });
  assert.deepEqual([a.status, a.text, a.loads], [200, "ok:1", 1], "the app sees only the success");
  assert.equal(a.changes.filter((s) => s === 4).length, 1, "one DONE");
  assert.deepEqual(
    sent.map((s) => [s.headers.authorization, s.headers.dpop, s.body, s.headers["x-keep"]]),
    [
      ["DPoP tok1", "p1:POST:https://app.example.com/api/a:tok1:", "1", "k"],
      ["DPoP tok1", "p2:POST:https://app.example.com/api/a:tok1:n2", "1", "k"],
    ],
  );
  // Once only: a second use_dpop_nonce reaches the app; the next request signs with the newest nonce.
  const b = await run(X, "POST", "/api/b", "2");
  assert.deepEqual([b.status, b.loads], [401, 1]);
  const c = await run(X, "POST", "/api/c", "3");
  assert.equal(c.status, 200);
  assert.equal(sent.length, 5);
  assert.equal(sent[4].headers.dpop, "p5:POST:https://app.example.com/api/c:tok1:n3");
});

test("XHR: a refused token with no better one to be had: the app sees the 401 once, and the resource is not marked", async () => {
  let fetches = 0;
  const same = manager(async () => (fetches++, { token: "same", exp: Date.now() + 3600_000 }), true, new FakeClock(), () => {}, () => {});
  const { X: Raw, sent } = fakeXHR(() => ({ status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' }, body: "no" }));
  const X = wrapXHR(Raw as unknown as { new (): XMLHttpRequest; prototype: XMLHttpRequest }, deps(same, page));
  const a = await run(X, "POST", "/api/r", "1");
  assert.deepEqual([a.status, a.loads, a.changes.filter((s) => s === 4).length], [401, 1, 1]);
  assert.equal(sent.length, 1, "nothing to replay with");
  await run(X, "POST", "/api/r", "2");
  assert.equal(fetches, 3, "the second 401 asks for a fresh token again: the resource was not marked as refusing one");
});
