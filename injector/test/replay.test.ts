import { test } from "node:test";
import assert from "node:assert/strict";
import { wrapFetch } from "../src/fetch";
import { refusals, resource, REFUSED_MAX } from "../src/replay";
import { wrapXHR } from "../src/xhr";
import { counted, deps, fakeXHR, network, Seen } from "./util";

const page = "https://app.example.com/dash/";
const denied = () => new Response('{"error":"invalid_token"}', { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token", error_description="wrong audience"' } });


test("resource: origin and path, id-like segments as *, no query", () => {
  const cases: [string, string][] = [
    ["/api/items?x=1", "https://app.example.com/api/items"],
    ["/api/items/17", "https://app.example.com/api/items/*"],
    ["/api/items/18/parts", "https://app.example.com/api/items/*/parts"],
    ["/api/runs/3f2a9c1e-77b0-4c1e-9d7a-0b1c2d3e4f50", "https://app.example.com/api/runs/*"],
    ["/api/v2/items", "https://app.example.com/api/v2/items"],
    ["https://api.example.com/api/items/17", "https://api.example.com/api/items/*"],
  ];
  for (const [url, want] of cases) assert.equal(resource(url, page), want, url);
});

test("refusals: kept for the ttl, bounded, oldest forgotten first", () => {
  let now = 0;
  const t = refusals(() => now, 60000, 3);
  t.add("a");
  assert.ok(t.has("a"));
  now = 59999;
  assert.ok(t.has("a"));
  now = 60000;
  assert.ok(!t.has("a"), "expired");
  t.add("a");
  t.add("b");
  t.add("c");
  t.add("d"); // full: a goes
  assert.deepEqual(["a", "b", "c", "d"].map((k) => t.has(k)), [false, true, true, true]);
  t.add("b"); // re-added: now the newest
  t.add("e"); // c goes, not b
  assert.deepEqual(["b", "c", "d", "e"].map((k) => t.has(k)), [true, false, true, true]);
  const big = refusals(() => 0);
  for (let i = 0; i < REFUSED_MAX * 10; i++) big.add("k" + i);
  assert.equal(Array.from({ length: REFUSED_MAX * 10 }, (_, i) => big.has("k" + i)).filter(Boolean).length, REFUSED_MAX);
});

test("fetch: a resource that refuses a fresh token costs one refresh, then none; other requests keep the fresh token", async () => {
  const t = counted();
  const net = network((r: Seen) => (r.url.includes("/api/aud/") ? denied() : new Response("ok " + r.headers.get("authorization"))));
  const f = wrapFetch(net.f, deps(t.m, page));
  let res = await f("/api/aud/1", { method: "POST", body: "a" });
  assert.equal(res.status, 401);
  assert.equal(t.issued(), 2, "first refusal: the first token and one refresh");
  assert.equal(net.seen.length, 2, "one replay");
  for (let i = 2; i <= 6; i++) {
    res = await f("/api/aud/" + i, { method: "POST", body: "b" });
    assert.equal(res.status, 401, "the caller gets the 401");
    assert.match(await res.text(), /invalid_token/, "with its body");
  }
  assert.equal(t.issued(), 2, "no refresh for the refused resource");
  assert.equal(net.seen.length, 7, "no replays either");
  res = await f("/api/other", { method: "POST", body: "c" });
  assert.equal(await res.text(), "ok Bearer tok2", "the fresh token is not marked: other requests use it");
  assert.equal(t.issued(), 2);
});

test("fetch: a refusal in one page does not reach another page's table", async () => {
  const t = counted();
  const net = network(() => denied());
  const mk = () => deps(t.m, page);
  await wrapFetch(net.f, mk())("/api/x", { method: "POST" });
  const before = t.issued();
  await wrapFetch(net.f, mk())("/api/x", { method: "POST" });
  assert.equal(t.issued(), before + 1, "a new page renews once on its own");
});

test("XHR: a refused resource costs one refresh, then none; the app sees each 401", async () => {
  const t = counted();
  const { X: Fake, sent } = fakeXHR((s) =>
    s.url.includes("/aud/") ? { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' }, body: "no" } : { status: 200, body: "ok" },
  );
  const X = wrapXHR(Fake as unknown as { new (): XMLHttpRequest; prototype: XMLHttpRequest }, deps(t.m, page));
  const run = (url: string) =>
    new Promise<number>((ok) => {
      const x = new X();
      x.open("POST", url);
      x.addEventListener("loadend", () => ok(x.status));
      x.send("b");
    });
  assert.equal(await run("/api/aud/1"), 401);
  assert.equal(t.issued(), 2);
  assert.equal(sent.length, 2);
  for (let i = 2; i <= 4; i++) assert.equal(await run("/api/aud/" + i), 401);
  assert.equal(t.issued(), 2, "no refresh for the refused resource");
  assert.equal(sent.length, 5, "no replays");
  assert.equal(await run("/api/ok"), 200);
  const last = sent[sent.length - 1];
  assert.equal(last.url + " " + last.headers.authorization, "/api/ok Bearer tok2");
});
