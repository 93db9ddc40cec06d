import { test } from "node:test";
import assert from "node:assert/strict";
import { UserConfig } from "../src/config";
import { manager } from "../src/tokens";
import { wrapFetch } from "../src/fetch";
import { counted, deps, FakeClock, network, Seen, stubProver } from "./util";

const page = "https://app.example.com/dash/";

/** A wrapped fetch over a fake network, with a counting token source. */
function setup(user: UserConfig = {}, answer: (r: Seen, n: number) => Response = () => new Response("ok"), dash = false) {
  const fails: unknown[] = [];
  const { m: tokens, issued, clock } = counted();
  const d = deps(tokens, page, user, { dash: () => dash, fail: (e) => fails.push(e) });
  const net = network(answer);
  return { f: wrapFetch(net.f, d), seen: net.seen, issuedCount: issued, tokens, fails, clock, d };
}

const auth = (s: Seen) => s.headers.get("authorization");

test("POST with string, URL and Request inputs gets the header", async () => {
  const { f, seen } = setup();
  await f("/api/a", { method: "POST", body: "1" });
  await f(new URL("https://app.example.com/api/b"), { method: "POST", body: "2" });
  await f(new Request("https://app.example.com/api/c", { method: "POST", body: "3" }));
  assert.deepEqual(seen.map(auth), ["Bearer tok1", "Bearer tok1", "Bearer tok1"]);
  assert.deepEqual(seen.map((s) => s.body), ["1", "2", "3"]);
});

test("a cached token costs no extra request", async () => {
  const { f, seen, issuedCount } = setup();
  for (let i = 0; i < 100; i++) await f("/api", { method: "POST", body: String(i) });
  assert.equal(issuedCount(), 1);
  assert.equal(seen.length, 100, "only the app's own requests went out");
});

test("every header form survives, and a Request's headers survive init.headers", async () => {
  const { f, seen } = setup();
  const forms: HeadersInit[] = [new Headers({ "X-A": "1" }), [["X-A", "1"]], { "X-A": "1" }];
  for (const h of forms) await f("/api", { method: "POST", headers: h });
  await f(new Request("https://app.example.com/api", { method: "POST", headers: { "X-Req": "r" } }), { headers: { "X-A": "1" } });
  for (const s of seen) {
    assert.equal(auth(s), "Bearer tok1");
    assert.equal(s.headers.get("x-a"), "1");
  }
  assert.equal(seen[3].headers.get("x-req"), "r");
});

test("what is not decorated", async () => {
  const { f, seen, issuedCount } = setup({ origins: "https://api.example.com" });
  const cases: [RequestInfo, RequestInit | undefined][] = [
    ["/api", undefined],
    ["/api", { method: "GET" }],
    ["https://other.example.com/api", { method: "POST" }],
    ["https://api.example.com.evil.net/api", { method: "POST" }],
    ["https://app.example.com:8443/api", { method: "POST" }],
    ["http://app.example.com/api", { method: "POST" }],
    ["/api", { method: "POST", mode: "no-cors" }],
    [new Request("https://app.example.com/api", { method: "POST", mode: "no-cors" }), undefined],
  ];
  for (const [input, init] of cases) await f(input, init);
  assert.deepEqual(seen.map(auth), cases.map(() => null));
  assert.equal(issuedCount(), 0, "no token is even fetched");
  await f("https://api.example.com/x", { method: "POST" });
  assert.equal(auth(seen[seen.length - 1]), "Bearer tok1", "an allowed extra origin gets it");
});

test("a <base> element pointing elsewhere does not make elsewhere same-origin", async () => {
  // The page is https://app.example.com/dash/ with <base href="https://elsewhere.example/">.
  const base = "https://elsewhere.example/";
  const tokens = manager(async () => ({ token: "secret", exp: Date.now() + 3600_000 }), true, new FakeClock(), () => {}, () => {});
  const net = network(() => new Response("ok"), base);
  const f = wrapFetch(net.f, deps(tokens, base, {}, { self: "https://app.example.com" }));
  await f("api/relative", { method: "POST", body: "r" });
  await f("https://elsewhere.example/api/absolute", { method: "POST", body: "a" });
  await f("https://app.example.com/api/own", { method: "POST", body: "o" });
  assert.deepEqual(
    net.seen.map((s) => [s.url, auth(s)]),
    [
      ["https://elsewhere.example/api/relative", null],
      ["https://elsewhere.example/api/absolute", null],
      ["https://app.example.com/api/own", "Bearer secret"],
    ],
  );
});

test("methods * decorates GET", async () => {
  const { f, seen } = setup({ methods: "*" });
  await f("/api");
  assert.equal(auth(seen[0]), "Bearer tok1");
});

test("an Authorization the app set itself is kept unless overwrite", async () => {
  const { f, seen } = setup();
  await f("/api", { method: "POST", headers: { Authorization: "Basic abc" } });
  assert.equal(auth(seen[0]), "Basic abc");
  const o = setup({ overwrite: true });
  await o.f("/api", { method: "POST", headers: { Authorization: "Basic abc" } });
  assert.equal(auth(o.seen[0]), "Bearer tok1");
});

test("a stale copy of our own token (Dash's stored header) is replaced", async () => {
  const answer = (r: Seen) =>
    auth(r) === "Bearer tok1" ? new Response("", { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } }) : new Response("ok");
  const { f, seen, tokens } = setup({}, answer);
  await tokens.get(); // tok1
  await tokens.refresh("tok1"); // tok2
  await f("/_dash-update-component", { method: "POST", headers: { Authorization: "Bearer tok1" } });
  assert.equal(auth(seen[0]), "Bearer tok2");
  await f("/x", { method: "POST", headers: { Authorization: "Bearer tok2" } });
  assert.equal(auth(seen[1]), "Bearer tok2");
});

test("401 invalid_token: one refresh, one replay with the body intact", async () => {
  const answer = (r: Seen) =>
    auth(r) === "Bearer tok1"
      ? new Response("expired", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="api", error="invalid_token"' } })
      : new Response("fine:" + r.body);
  for (const kind of ["string", "Request", "URLSearchParams"]) {
    const { f, seen, issuedCount } = setup({}, answer);
    const res =
      kind === "Request"
        ? await f(new Request("https://app.example.com/api", { method: "POST", body: "payload", headers: { "X-Keep": "k" } }))
        : await f("/api", { method: "POST", body: kind === "string" ? "payload" : new URLSearchParams("payload="), headers: { "X-Keep": "k" } });
    const want = kind === "URLSearchParams" ? "fine:payload=" : "fine:payload";
    assert.equal(res.status, 200, kind);
    assert.equal(await res.text(), want, kind);
    assert.equal(seen.length, 2, kind);
    assert.deepEqual(seen.map(auth), ["Bearer tok1", "Bearer tok2"], kind);
    assert.equal(seen[1].body, seen[0].body, kind);
    assert.equal(seen[1].headers.get("x-keep"), "k", kind);
    assert.equal(issuedCount(), 2, kind);
  }
});

test("401 with a JWT Expired body is replayed too", async () => {
  const answer = (r: Seen) => (auth(r) === "Bearer tok1" ? new Response('{"message":"JWT Expired"}', { status: 401 }) : new Response("ok"));
  const { f, seen } = setup({}, answer);
  const res = await f("/api", { method: "POST", body: "b" });
  assert.equal(res.status, 200);
  assert.equal(seen.length, 2);
});

test("other 401s, and a second rejection, reach the caller", async () => {
  const plain = setup({}, () => new Response("no", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="x"' } }));
  assert.equal((await plain.f("/api", { method: "POST" })).status, 401);
  assert.equal(plain.seen.length, 1);
  const always = setup({}, () => new Response("JWT Expired", { status: 401 }));
  const res = await always.f("/api", { method: "POST" });
  assert.equal(res.status, 401);
  assert.equal(await res.text(), "JWT Expired", "the body is still readable");
  assert.equal(always.seen.length, 2, "replayed once only");
});

test("50 concurrent POSTs with an expired token: one token fetch, all replayed once", async () => {
  let valid = "";
  const answer = (r: Seen) => (auth(r) === "Bearer " + valid ? new Response("ok") : new Response("", { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } }));
  const { f, seen, issuedCount, tokens } = setup({}, answer);
  await tokens.get(); // tok1, which the backend now refuses
  valid = "tok2";
  const res = await Promise.all(Array.from({ length: 50 }, (_, i) => f("/api", { method: "POST", body: String(i) })));
  assert.ok(res.every((r) => r.status === 200));
  assert.equal(issuedCount(), 2);
  assert.equal(seen.length, 100);
});

test("token failures: the request goes out without the header and the failure is reported", async () => {
  const clock = new FakeClock();
  const tokens = manager(
    async () => {
      throw new Error("down");
    },
    true,
    clock,
    () => {},
    () => {},
  );
  const fails: unknown[] = [];
  const net = network(() => new Response("ok"));
  const f = wrapFetch(net.f, deps(tokens, page, {}, { fail: (e) => fails.push(e) }));
  assert.equal((await f("/api", { method: "POST" })).status, 200);
  assert.equal(auth(net.seen[0]), null);
  assert.equal(fails.length, 1);
});

test("dash mode decorates the renderer's GETs", async () => {
  const { f, seen } = setup({}, undefined, true);
  await f("/app/_dash-layout", { headers: { Accept: "application/json" } });
  await f("/app/_dash-dependencies");
  await f("/app/other");
  assert.deepEqual(seen.map(auth), ["Bearer tok1", "Bearer tok1", null]);
});

test("custom header and scheme", async () => {
  const { f, seen } = setup({ header: "X-Api-Token", scheme: "" });
  await f("/api", { method: "POST" });
  assert.equal(seen[0].headers.get("x-api-token"), "tok1");
  assert.equal(auth(seen[0]), null);
});

test("a stream body in init cannot be replayed: the 401 reaches the caller", async () => {
  const { f, seen } = setup({}, () => new Response("JWT Expired", { status: 401 }));
  const body = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode("streamed"));
      c.close();
    },
  });
  const res = await f("/api", { method: "POST", body, duplex: "half" } as RequestInit);
  assert.equal(res.status, 401);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].body, "streamed");
});

test("connection origins get their connection's token only; other origins get nothing", async () => {
  const clock = new FakeClock();
  const net = network(() => new Response("ok"), page);
  const mk = (t: string) => manager(() => ({ token: t }), true, clock, () => {}, () => {});
  const signin = mk("signin-tok");
  const data = mk("data-tok");
  const d = deps(signin, page, { connections: "https://api.data.example=data" });
  d.tok = (u) => (d.cfg.origins[new URL(u, page).origin] === "data" ? data : signin);
  const f = wrapFetch(net.f, d);
  const cases: [string, string | null][] = [
    ["https://api.data.example/q", "Bearer data-tok"],
    ["https://api.data.example:443/q", "Bearer data-tok"],
    ["https://api.data.example.evil.net/q", null],
    ["https://api.data.example:8443/q", null],
    ["http://api.data.example/q", null],
    ["/api/save", "Bearer signin-tok"],
  ];
  for (const [u, want] of cases) {
    await f(u, { method: "POST" });
    assert.equal(net.seen[net.seen.length - 1].headers.get("authorization"), want, u);
  }
});

test("dpop: each request gets a fresh proof; use_dpop_nonce is retried once with the new nonce", async () => {
  const { f, seen, d } = setup({}, (r, n) =>
    n === 1
      ? new Response("nonce", { status: 401, headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n2" } })
      : n === 3 || n === 4
        ? new Response("again", { status: 401, headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n3" } })
        : new Response("ok"),
  );
  stubProver(d);
  const a = await f(new Request("https://app.example.com/api/a", { method: "POST", body: "1" }));
  assert.equal(a.status, 200);
  assert.deepEqual(
    seen.map((s) => [s.headers.get("authorization"), s.headers.get("dpop"), s.body]),
    [
      ["DPoP tok1", "p1:POST:https://app.example.com/api/a:tok1:", "1"],
      ["DPoP tok1", "p2:POST:https://app.example.com/api/a:tok1:n2", "1"],
    ],
  );
  // Retried once only: a second use_dpop_nonce goes to the caller.
  const b = await f("/api/b", { method: "POST", body: "2" });
  assert.equal(b.status, 401);
  const c = await f("/api/c", { method: "POST", body: "3" });
  assert.equal(c.status, 200);
  assert.equal(seen.length, 5);
  assert.equal(seen[4].headers.get("dpop"), "p5:POST:https://app.example.com/api/c:tok1:n3");
});

test("dpop: the replay after a refused token carries a proof for the fresh token and the request's method", async () => {
  const refuse = new Response("", { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } });
  const { f, seen, d } = setup({ methods: ["PUT", "DELETE"] }, (r) => (auth(r) === "DPoP tok1" ? refuse.clone() : new Response("ok")));
  stubProver(d);
  for (const [input, init] of [
    [new Request("https://app.example.com/api/a", { method: "PUT", body: "1" }), undefined],
    ["/api/b", { method: "DELETE" }],
  ] as [RequestInfo, RequestInit | undefined][]) {
    assert.equal((await f(input, init)).status, 200);
  }
  assert.deepEqual(
    seen.map((s) => [s.method, auth(s), s.headers.get("dpop")]),
    [
      ["PUT", "DPoP tok1", "p1:PUT:https://app.example.com/api/a:tok1:"],
      ["PUT", "DPoP tok2", "p2:PUT:https://app.example.com/api/a:tok2:"],
      ["DELETE", "DPoP tok2", "p3:DELETE:https://app.example.com/api/b:tok2:"],
    ],
  );
});
