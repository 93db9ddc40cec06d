import { test } from "node:test";
import assert from "node:assert/strict";
import { install } from "../src/index";
import { network, Seen, tokenAnswer } from "./util";

const page = "https://app.example.com/dash/?x=1#h";
const tick = () => new Promise((r) => setTimeout(r, 5));

/** A fake window over a fake network whose token endpoint answers with token(). */
function fakeWindow(opts: { framed?: boolean; token?: () => Response; config?: object; storage?: Record<string, string> } = {}) {
  const navigated: string[] = [];
  const net = network((r: Seen) => {
    const p = new URL(r.url).pathname;
    if (p === "/_tokenhook/token") return opts.token ? opts.token() : tokenAnswer("tok", Math.floor(Date.now() / 1000) + 3600);
    if (p === "/_tokenhook/logout") return new Response(JSON.stringify({ logout_url: "https://idp.example/logout?x=1" }));
    return new Response("ok");
  }, page);
  const w: any = {
    document: { cookie: "", baseURI: page },
    location: {
      href: page,
      pathname: "/dash/",
      search: "?x=1",
      hash: "#h",
      assign: (u: string) => navigated.push(u),
    },
    // unref: the proactive refresh timer must not keep the test process alive.
    setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => setTimeout(fn, ms, ...args).unref(),
    clearTimeout: (h: any) => clearTimeout(h),
    fetch: net.f,
    TokenHookConfig: opts.config,
    localStorage: { getItem: (k: string) => (opts.storage || {})[k] ?? null },
  };
  w.self = w;
  w.top = opts.framed ? {} : w;
  return { w, navigated, seen: net.seen };
}

test("install wraps fetch once and exposes the API", async () => {
  const { w, seen } = fakeWindow();
  const api = install(w, { dataset: { methods: "POST" } });
  const wrapped = w.fetch;
  assert.equal(install(w, null), api, "second load keeps the first");
  assert.equal(w.fetch, wrapped, "fetch is not wrapped twice");
  assert.equal(w.TokenHook, api);
  assert.ok(Object.isFrozen(api));
  const tokens: string[] = [];
  api.on("token", (t) => tokens.push(t));
  await w.fetch("/api", { method: "POST", body: "x" });
  const tokenCalls = seen.filter((s) => s.url.endsWith("/_tokenhook/token"));
  assert.equal(tokenCalls.length, 1);
  assert.equal(tokenCalls[0].headers.get("x-tokenhook"), "1");
  assert.equal(seen[seen.length - 1].headers.get("authorization"), "Bearer tok");
  assert.equal(await api.getToken(), "tok");
  for (const k of ["getToken", "signIn", "signOut", "on", "dash"]) assert.equal(typeof (api as any)[k], "function", k);
});

const loginRequired = () => new Response('{"error":"login_required"}', { status: 401 });

test("not signed in: a top-level page goes to the login route with its path", async () => {
  const { w, navigated } = fakeWindow({ token: loginRequired });
  const api = install(w, null);
  await tick();
  assert.deepEqual(navigated, [], "the warm-up fetch does not navigate");
  assert.equal(await api.getToken(), null);
  assert.deepEqual(navigated, ["https://app.example.com/_tokenhook/login?rd=%2Fdash%2F%3Fx%3D1%23h"]);
  await api.getToken();
  assert.equal(navigated.length, 1, "navigates once");
});

test("not signed in inside a frame: no navigation, a loginrequired event", async () => {
  const { w, navigated } = fakeWindow({ token: loginRequired, framed: true });
  const api = install(w, null);
  let events = 0;
  api.on("loginrequired", () => events++);
  const res = await w.fetch("/api", { method: "POST" });
  assert.equal(res.status, 200, "the request still goes out");
  await tick();
  assert.deepEqual(navigated, []);
  assert.equal(events, 1);
});

test("onLoginRequired replaces navigation", async () => {
  let called = 0;
  const { w, navigated } = fakeWindow({ token: loginRequired, config: { onLoginRequired: () => called++ } });
  install(w, null).signIn();
  assert.equal(called, 1);
  assert.deepEqual(navigated, []);
});

test("signOut posts to logout with the CSRF header, emits signedout, follows logout_url", async () => {
  const { w, navigated, seen } = fakeWindow();
  const api = install(w, null);
  let out = 0;
  const off = api.on("signedout", () => out++);
  await api.signOut();
  await tick();
  const lo = seen.find((s) => s.url.endsWith("/_tokenhook/logout"))!;
  assert.equal(lo.method, "POST");
  assert.equal(lo.headers.get("x-tokenhook"), "1");
  assert.equal(out, 1);
  assert.deepEqual(navigated, ["https://idp.example/logout?x=1"]);
  off();
  await api.signOut();
  await tick();
  assert.equal(out, 1, "unsubscribed");
});

test("localStorage source: the app's token, no token endpoint", async () => {
  const { w, seen } = fakeWindow({ storage: { jwt: "app-token" } });
  install(w, { dataset: { source: "localStorage:jwt" } });
  await w.fetch("/api", { method: "POST" });
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.get("authorization"), "Bearer app-token");
});

test("custom token function", async () => {
  const rejected: (string | undefined)[] = [];
  const { w, seen } = fakeWindow({ config: { token: async (r?: string) => (rejected.push(r), { access_token: "custom" }) } });
  install(w, null);
  await w.fetch("/api", { method: "POST" });
  assert.equal(seen[0].headers.get("authorization"), "Bearer custom");
  assert.deepEqual(rejected, [undefined]);
});
