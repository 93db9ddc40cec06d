import { test } from "node:test";
import assert from "node:assert/strict";
import { install } from "../src/index";
import * as session from "../src/session";
import * as signin from "../src/signin";

import { network, Seen, tokenAnswer } from "./util";

const page = "https://app.example.com/dash/?x=1#h";
const tick = () => new Promise((r) => setTimeout(r, 5));
/** Waits (up to 2 s) until cond holds: the warm-up's promise chain may take longer than one tick on a loaded machine. */
async function until(cond: () => boolean) {
  for (let i = 0; i < 400 && !cond(); i++) await tick();
}

/** A fake window over a fake network whose token endpoint answers with token(). */
function fakeWindow(opts: { framed?: boolean; token?: (r: Seen) => Response; config?: object; storage?: Record<string, string>; baseURI?: string; chunkFails?: boolean; logout?: () => Response } = {}) {
  const navigated: string[] = [];
  // Scripts the page inserted (the session chunk) and prompts the chunk showed.
  const scripts: { src: string; integrity: string; crossOrigin: string }[] = [];
  let prompts = 0;
  let host: session.Host | undefined;
  const net = network((r: Seen) => {
    const p = new URL(r.url).pathname;
    if (p === "/_tokenhook/token") return opts.token ? opts.token(r) : tokenAnswer("tok", Math.floor(Date.now() / 1000) + 3600);
    if (p === "/_tokenhook/logout" && opts.logout) return opts.logout();
    if (p === "/_tokenhook/logout") return new Response(JSON.stringify({ logout_url: "https://idp.example/logout?x=1" }));
    return new Response("ok");
  }, page);
  const w: any = {
    document: {
      cookie: "",
      baseURI: opts.baseURI || page,
      documentElement: { style: {} as Record<string, string> },
      createElement: () => ({}),
      head: {
        appendChild: (el: any) => {
          scripts.push(el);
          // A real DOM is tested in Chromium (server/e2e); here the prompt is counted.
          if (opts.chunkFails) return void setTimeout(() => el.onerror(new Event("error")), 0);
          setTimeout(() => el.th({ ...session.entry, signIn: (h: session.Host) => ((host = h), h.w.top !== h.w ? prompts++ : signin.signIn(h)) }), 0);
        },
      },
    },
    location: {
      href: page,
      origin: new URL(page).origin,
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
  return { w, navigated, seen: net.seen, scripts, prompts: () => prompts, host: () => host! };
}

test("install wraps fetch once and exposes the API", async () => {
  const { w, seen } = fakeWindow();
  const api = install(w, { dataset: { methods: "POST" } });
  const wrapped = w.fetch;
  assert.equal(install(w, null), api, "second load keeps the first");
  assert.equal(w.fetch, wrapped, "fetch is not wrapped twice");
  assert.equal(w.TokenHook, api);
  assert.ok(Object.isFrozen(api));
  const tokens: (string | null)[] = [];
  api.on("token", (t) => tokens.push(t));
  await w.fetch("/api", { method: "POST", body: "x" });
  const tokenCalls = seen.filter((s) => s.url.endsWith("/_tokenhook/token"));
  assert.equal(tokenCalls.length, 1);
  assert.equal(tokenCalls[0].headers.get("x-tokenhook"), "1");
  assert.equal(seen[seen.length - 1].headers.get("authorization"), "Bearer tok");
  assert.equal(await api.getToken(), "tok");
  for (const k of ["getToken", "signIn", "signOut", "on", "dash"]) assert.equal(typeof (api as any)[k], "function", k);
});

test("browser-token none: the page holds no token; matching requests carry X-TokenHook: 1 only", async () => {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const { w, seen } = fakeWindow({ token: () => new Response(JSON.stringify({ token_type: "none", expires_at: exp })) });
  const api = install(w, null);
  const events: unknown[] = [];
  api.on("token", (t) => events.push(t));
  await w.fetch("/api/save", { method: "POST", body: "s" });
  await w.fetch("/api/read");
  await tick();
  const sent = seen.filter((s) => s.url.indexOf("/api/") > 0).map((s) => [s.method, s.headers.get("x-tokenhook"), s.headers.get("authorization")]);
  assert.deepEqual(sent, [
    ["POST", "1", null],
    ["GET", null, null],
  ]);
  assert.equal(await api.getToken(), null);
  assert.ok(events.every((e) => e == null), "token events carry nothing");
});

test("<base href> elsewhere: the page's origin is still location.origin", async () => {
  const { w, seen } = fakeWindow({ baseURI: "https://elsewhere.example/" });
  install(w, null);
  await w.fetch("/api/relative", { method: "POST", body: "r" });
  await w.fetch("https://elsewhere.example/api/absolute", { method: "POST", body: "a" });
  await w.fetch("https://app.example.com/api/own", { method: "POST", body: "o" });
  const sent = seen.filter((s) => s.method === "POST").map((s) => [s.body, s.headers.get("authorization")]);
  assert.deepEqual(sent, [
    ["r", null],
    ["a", null],
    ["o", "Bearer tok"],
  ]);
});

const loginRequired = () => new Response('{"error":"login_required"}', { status: 401 });

test("not signed in: a top-level page goes to the login route with its path", async () => {
  const { w, navigated } = fakeWindow({ token: loginRequired });
  const api = install(w, null);
  await tick();
  assert.deepEqual(navigated, [], "the warm-up fetch does not navigate");
  assert.equal(await api.getToken(), null);
  await tick();
  assert.deepEqual(navigated, ["https://app.example.com/_tokenhook/login?rd=%2Fdash%2F%3Fx%3D1%23h"]);
  await api.getToken();
  await tick();
  assert.equal(navigated.length, 1, "navigates once");
});

test("not signed in inside a frame: no navigation, loginrequired, the prompt from the chunk", async () => {
  const { w, navigated, scripts, prompts } = fakeWindow({ token: loginRequired, framed: true });
  const api = install(w, null);
  let events = 0;
  api.on("loginrequired", () => events++);
  await until(() => events > 0);
  assert.equal(events, 1, "the warm-up already found the frame signed out");
  const res = await w.fetch("/api", { method: "POST" });
  assert.equal(res.status, 200, "without the gate the request still goes out");
  await tick();
  assert.deepEqual(navigated, []);
  assert.equal(events, 2);
  assert.equal(scripts.length, 1, "the chunk is loaded once");
  assert.equal(scripts[0].src, "https://app.example.com/_tokenhook/tokenhook-session.0000.js");
  assert.equal(scripts[0].integrity, "sha256-test");
  assert.equal(scripts[0].crossOrigin, "");
  assert.equal(prompts(), 2);
});

test("gate: the page is hidden until a token; a request made signed out is held and sent after sign-in", async () => {
  let signedIn = false;
  const { w, seen, prompts, host } = fakeWindow({
    framed: true,
    token: () => (signedIn ? tokenAnswer("fresh", Math.floor(Date.now() / 1000) + 3600) : loginRequired()),
  });
  install(w, { dataset: { gate: "" } });
  assert.equal(w.document.documentElement.style.visibility, "hidden", "hidden before the first paint");
  let settled = false;
  const sent = w.fetch("/api/save", { method: "POST", body: "payload" }).then((r: Response) => ((settled = true), r));
  await tick();
  await tick();
  assert.equal(prompts(), 1);
  assert.equal(settled, false, "held while signed out");
  assert.equal(seen.filter((s) => s.url.endsWith("/api/save")).length, 0, "not sent without the header");
  // The chunk collected the sign-in: it calls done() on the host it was given.
  signedIn = true;
  host().done!();
  const res = await sent;
  assert.equal(res.status, 200);
  const save = seen.filter((s) => s.url.endsWith("/api/save"));
  assert.equal(save.length, 1);
  assert.equal(save[0].headers.get("authorization"), "Bearer fresh");
  assert.equal(save[0].body, "payload");
  assert.equal(w.document.documentElement.style.visibility, "", "shown once a token is there");
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

test("connection origin: connectionrequired, the request goes without a header; never the sign-in token", async () => {
  const { w, seen, navigated } = fakeWindow({
    token: (r) =>
      new URL(r.url).search === "?connection=data"
        ? new Response('{"error":"connection_required","connect_url":"/_tokenhook/connect/data"}', { status: 401 })
        : tokenAnswer("signin", Math.floor(Date.now() / 1000) + 3600),
  });
  const api = install(w, { dataset: { connections: "https://api.data.example=data" } });
  const events: unknown[] = [];
  api.on("connectionrequired", (a) => events.push(a));
  const res = await w.fetch("https://api.data.example/q", { method: "POST" });
  assert.equal(res.status, 200);
  await tick();
  const last = seen.filter((s) => s.url === "https://api.data.example/q");
  assert.equal(last.length, 1);
  assert.equal(last[0].headers.get("authorization"), null, "no sign-in token to a connection origin");
  assert.deepEqual(events, [{ name: "data", connectUrl: "/_tokenhook/connect/data" }]);
  assert.deepEqual(navigated, [], "the page stays");
  await w.fetch("/api", { method: "POST" });
  assert.equal(seen[seen.length - 1].headers.get("authorization"), "Bearer signin");
});

test("errors: the error event hands out a TokenHookError (TokenHook.TokenHookError) with code and status", async () => {
  const cases: { name: string; token: (r: Seen) => Response; code: string; status?: number }[] = [
    { name: "http", token: () => new Response("bad gateway", { status: 502 }), code: "http", status: 502 },
    {
      name: "network",
      token: () => {
        throw new TypeError("Failed to fetch");
      },
      code: "network",
    },
  ];
  for (const c of cases) {
    const { w } = fakeWindow({ token: c.token });
    const api = install(w, null);
    const errors: unknown[] = [];
    api.on("error", (e) => errors.push(e));
    const res = await w.fetch("/api", { method: "POST" });
    assert.equal(res.status, 200, c.name + ": the request still goes out");
    await until(() => errors.length > 0);
    const e = errors[0];
    assert.ok(e instanceof api.TokenHookError && e instanceof Error, c.name);
    assert.deepEqual([e.code, e.status], [c.code, c.status], c.name);
    assert.match(e.message, c.code === "http" ? /HTTP 502/ : /Failed to fetch/, c.name);
  }
});

test("errors: signOut's failures are TokenHookErrors: a chunk that cannot load (network), a logout answer other than 2xx (http)", async () => {
  const cases: { name: string; opts: Parameters<typeof fakeWindow>[0]; code: string; status?: number; message: RegExp }[] = [
    { name: "chunk", opts: { chunkFails: true }, code: "network", message: /cannot load https:\/\/app\.example\.com\/_tokenhook\/tokenhook-session\.0000\.js/ },
    { name: "logout 503", opts: { logout: () => new Response("no", { status: 503 }) }, code: "http", status: 503, message: /HTTP 503/ },
  ];
  for (const c of cases) {
    const api = install(fakeWindow(c.opts).w, null);
    const errors: unknown[] = [];
    api.on("error", (e) => errors.push(e));
    await api.signOut();
    await until(() => errors.length > 0);
    const e = errors[0];
    assert.ok(e instanceof api.TokenHookError, c.name + ": not an Event or a plain Error");
    assert.deepEqual([e.code, e.status], [c.code, c.status], c.name);
    assert.match(e.message, c.message, c.name);
  }
});
