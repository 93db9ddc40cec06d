import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { noteNonce } from "../src/dpop";
import { lead, manager, Prover, server, staleHash, Source } from "../src/tokens";
import { Token } from "../src/config";
import { TokenHookError, TokenHookErrorCode } from "../src/tokenhook";
import { FakeClock, flush, network, tokenAnswer } from "./util";

/** A source that issues t1, t2, … each valid for life ms, counting calls. */
function counting(clock: FakeClock, life: number) {
  const calls: (string | undefined)[] = [];
  const src: Source = async (rejected) => {
    calls.push(rejected);
    await flush();
    return { token: "t" + calls.length, exp: clock.now() + life };
  };
  return { src, calls };
}

test("lead is min(30s, lifetime/3)", () => {
  assert.equal(lead(3600_000), 30_000);
  assert.equal(lead(60_000), 20_000);
  assert.equal(lead(9_000), 3_000);
});

test("single flight: 50 concurrent callers cause one fetch", async () => {
  const clock = new FakeClock();
  const { src, calls } = counting(clock, 3600_000);
  const m = manager(src, true, clock, () => {}, () => {});
  const got = await Promise.all(Array.from({ length: 50 }, () => m.get()));
  assert.equal(calls.length, 1);
  assert.ok(got.every((t) => t === "t1"));
  assert.equal(await m.get(), "t1", "cached");
  assert.equal(calls.length, 1);
});

test("50 concurrent refreshes after a rejection cause one fetch", async () => {
  const clock = new FakeClock();
  const { src, calls } = counting(clock, 3600_000);
  const m = manager(src, true, clock, () => {}, () => {});
  assert.equal(await m.get(), "t1");
  const got = await Promise.all(Array.from({ length: 50 }, () => m.refresh("t1")));
  assert.deepEqual(calls, [undefined, "t1"]);
  assert.ok(got.every((t) => t === "t2"));
  assert.equal(await m.refresh("t1"), "t2", "a late rejection of t1 gets t2 without a fetch");
  assert.equal(calls.length, 2);
});

test("an expired token is fetched again, once, before use", async () => {
  const clock = new FakeClock();
  const { src, calls } = counting(clock, 60_000);
  const m = manager(src, true, clock, () => {}, () => {});
  await m.get();
  clock.t += 120_000; // the tab slept: the timer never ran
  clock.timers = [];
  assert.equal(m.peek(), null);
  const got = await Promise.all(Array.from({ length: 50 }, () => m.get()));
  assert.equal(calls.length, 2);
  assert.ok(got.every((t) => t === "t2"));
});

test("proactive refresh runs lead() before expiry", async () => {
  const clock = new FakeClock();
  const { src, calls } = counting(clock, 60_000);
  const seen: string[] = [];
  const m = manager(src, true, clock, (t) => seen.push(t), () => {});
  await m.get();
  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0].at - clock.now(), 60_000 - 20_000);
  clock.advance(39_999);
  assert.equal(calls.length, 1);
  clock.advance(1);
  await flush();
  await flush();
  assert.equal(calls.length, 2);
  assert.equal(m.peek(), "t2");
  assert.deepEqual(seen, ["t1", "t2"]);
  assert.deepEqual(m.recent, ["t2", "t1"]);
});

test("proactive refresh that gets the same token backs off instead of spinning", async () => {
  const clock = new FakeClock();
  let n = 0;
  const exp = clock.now() + 60_000;
  const m = manager(async () => (n++, { token: "same", exp }), true, clock, () => {}, () => {});
  await m.get();
  for (let i = 0; i < 100 && clock.timers.length; i++) {
    clock.advance(clock.timers[0].at - clock.now());
    await flush();
  }
  assert.ok(n < 12, `fetched ${n} times`);
});

test("a huge lifetime does not overflow setTimeout", async () => {
  const clock = new FakeClock();
  const m = manager(async () => ({ token: "t", exp: clock.now() + 365 * 86400_000 }), true, clock, () => {}, () => {});
  await m.get();
  assert.ok(clock.timers[0].at - clock.now() <= 2147483647);
});

test("proactive refresh errors are reported, the token stays", async () => {
  const clock = new FakeClock();
  let n = 0;
  const errs: unknown[] = [];
  const m = manager(
    async () => {
      if (n++) throw new Error("down");
      return { token: "t1", exp: clock.now() + 60_000 };
    },
    true,
    clock,
    () => {},
    (e) => errs.push(e),
  );
  await m.get();
  clock.advance(40_000);
  await flush();
  await flush();
  assert.equal(errs.length, 1);
  assert.equal(m.peek(), "t1");
});

test("uncached sources are read every time", async () => {
  const clock = new FakeClock();
  let stored: Token = { token: "a" };
  const seen: string[] = [];
  const m = manager(() => stored, false, clock, (t) => seen.push(t), () => {});
  assert.equal(m.peek(), "a");
  stored = { token: "b" };
  assert.equal(await m.get(), "b");
  assert.equal(await m.refresh("b"), "b", "nothing better: the caller sees the same token and does not replay");
  stored = { token: null };
  assert.equal(m.peek(), null);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(clock.timers.length, 0);
});

test("clear forgets the token", async () => {
  const clock = new FakeClock();
  const { src, calls } = counting(clock, 3600_000);
  const m = manager(src, true, clock, () => {}, () => {});
  await m.get();
  m.clear();
  assert.equal(m.peek(), null);
  assert.equal(clock.timers.length, 0);
  await m.get();
  assert.equal(calls.length, 2);
});

test("staleHash is base64url(sha256) without padding", async () => {
  for (const t of ["", "abc", "eyJhbGciOiJSUzI1NiJ9.e30.sig", "x".repeat(1000)]) {
    const want = createHash("sha256").update(t).digest("base64url");
    assert.equal(await staleHash(t), want);
  }
});

test("server source: request, stale header, expiry on the local clock", async () => {
  const clock = new FakeClock();
  const serverNow = clock.now() - 120_000; // viewer clock two minutes fast
  const net = network(() => tokenAnswer("tok", Math.floor(serverNow / 1000) + 300, serverNow));
  const src = server(net.f, "https://app.example/_tokenhook/token", clock.now, staleHash);
  const t = await src();
  assert.equal(t.token, "tok");
  const expWant = Math.floor(serverNow / 1000) * 1000 + 300_000 + 120_000;
  assert.ok(Math.abs(t.exp! - expWant) <= 1000, `exp ${t.exp} want ~${expWant}`);
  await src("old-token");
  const [a, b] = net.seen;
  assert.equal(a.method, "GET");
  assert.equal(a.url, "https://app.example/_tokenhook/token");
  assert.equal(a.headers.get("x-tokenhook"), "1");
  assert.equal(a.headers.get("x-tokenhook-stale"), null);
  assert.equal(b.headers.get("x-tokenhook-stale"), createHash("sha256").update("old-token").digest("base64url"));
});

test("server source: every failure is a TokenHookError with its code and status", async () => {
  const cases: [string, Response | Error, TokenHookErrorCode, number | undefined][] = [
    ["login_required", new Response('{"error":"login_required"}', { status: 401 }), "login_required", 401],
    ["500", new Response("oops", { status: 500 }), "http", 500],
    ["401 with another error", new Response('{"error":"x"}', { status: 401 }), "http", 401],
    ["200 without a token", new Response("{}", { status: 200 }), "http", 200],
  ];
  for (const [name, res, code, status] of cases) {
    const src = server((async () => res) as typeof fetch, "/t", Date.now, staleHash);
    await assert.rejects(src() as Promise<Token>, (e: unknown) => {
      assert.ok(e instanceof TokenHookError, name);
      assert.deepEqual([e.name, e.code, e.status, e.connection], ["TokenHookError", code, status, undefined], name);
      assert.ok(e.message.length > 5, name);
      return true;
    });
  }
});

test("connection source: connection_required rejects with the event's argument; the sign-in token is never asked for", async () => {
  const urls: string[] = [];
  const f = (async (u: string) => {
    urls.push(u);
    return new Response('{"error":"connection_required","connect_url":"/_tokenhook/connect/data"}', { status: 401 });
  }) as typeof fetch;
  const src = server(f, "https://app.example/_tokenhook/token?connection=data", Date.now, staleHash, "data");
  await assert.rejects(
    src() as Promise<Token>,
    (e: unknown) => e instanceof TokenHookError && e.code === "connection_required" && e.status === 401 && e.connection === "data" && e.connectUrl === "/_tokenhook/connect/data",
  );
  assert.deepEqual(urls, ["https://app.example/_tokenhook/token?connection=data"]);
});

test("server source in dpop mode: the first answer asks for a proof, then every fetch signs from the start", async () => {
  let loads = 0;
  let k = 0;
  let nonce = "";
  const prover: Prover = { sign: async (m, u) => `p${++k}:${m}:${u}:${nonce}`, nonce: (h) => noteNonce(h, (n) => (nonce = n)) };
  const dpop = async () => (loads++, prover);
  const net = network((r) =>
    r.headers.get("dpop")
      ? tokenAnswer("dtok", Math.floor(Date.now() / 1000) + 300)
      : new Response('{"token_type":"DPoP"}', { headers: { "DPoP-Nonce": "n1", "Content-Type": "application/json" } }),
  );
  const url = "https://app.example/_tokenhook/token";
  const src = server(net.f, url, Date.now, staleHash, "", undefined, dpop);
  assert.equal((await src()).token, "dtok");
  assert.equal((await src()).token, "dtok");
  assert.deepEqual(
    net.seen.map((s) => s.headers.get("dpop")),
    [null, `p1:GET:${url}:n1`, `p2:GET:${url}:n1`],
    "one request without a proof; the second fetch signs its first request",
  );
  assert.equal(loads, 1, "the key is loaded once");
});
