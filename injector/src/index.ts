// tokenhook browser hook: adds "Authorization: Bearer <viewer's token>" to the
// page's matching fetch and XMLHttpRequest calls. Entry point of the bundle.
import { cookie, fromResult, on, parse, readStored } from "./config";
import type { DashHooks } from "./dash";
import { asError } from "./errors";
import { TokenHookAPI, TokenHookError } from "./tokenhook";
import { Deps, wrapFetch } from "./fetch";
import { wrapXHR } from "./xhr";
import type { DpopChunk } from "./dpop";
import type { Chunk, Host } from "./session";
import { Clock, manager, Manager, Prover, server, Source } from "./tokens";

// The session chunk's file name and Subresource Integrity (session.ts:
// sign-in, sign-out, connect, the gate's hold, the 401 replay, the Dash
// hooks), set by the build (esbuild define).
declare const __SESSION__: string;
declare const __SESSION_SRI__: string;
// The same for the DPoP chunk (key and proofs), loaded in dpop mode only.
declare const __DPOP__: string;
declare const __DPOP_SRI__: string;

/** window.TokenHook. */
export type API = TokenHookAPI;

/**
 * install wires everything into w (the window) and returns the API, or the
 * API already there when the script is loaded twice: fetch and XHR are
 * wrapped exactly once.
 */
export function install(w: any, script?: { dataset: { [k: string]: string | undefined } } | null): API {
  if (w.TokenHook) return w.TokenHook;
  const doc = w.document;
  const loc = w.location;
  const cfg = parse(script ? script.dataset : {}, w.TokenHookConfig);
  if (cfg.errors.length) console.warn("tokenhook: ignored", cfg.errors);
  // Absolute from here on: the routes are excluded from decoration by it.
  const base = (cfg.base = new URL(cfg.base, loc.href).href);
  const subs: { [event: string]: ((arg?: any) => void)[] } = {};
  // Listeners run in their own tasks: a throwing listener cannot break us.
  const emit = (event: string, arg?: unknown) => {
    for (const fn of subs[event] || []) w.setTimeout(fn, 0, arg);
  };
  const clock: Clock = { now: Date.now, set: (fn, ms) => w.setTimeout(fn, ms), clear: (h) => w.clearTimeout(h) };
  const f: typeof fetch = w.fetch.bind(w);
  let src: Source;
  // X-TokenHook-Stale's hash is in the chunk: only a refused token needs it.
  const hash = (t: string): Promise<string> => use("stale", t);
  // --browser-token none (the token endpoint says so): the page holds no
  // token; matching requests carry X-TokenHook: 1 and tokenhook adds the
  // session's token on its way to the app.
  let none = false;
  const bff = () => ((none = true), (cfg.header = "X-TokenHook"), (cfg.scheme = ""));
  // --browser-token dpop (the token endpoint asks for a proof): a
  // non-extractable key from the DPoP chunk signs a proof for every
  // matching request, which carries Authorization: DPoP <token>.
  let dp: Promise<Prover> | undefined;
  const dpop = () =>
    (dp =
      dp ||
      chunkOf<DpopChunk>(__DPOP__, __DPOP_SRI__)
        .then((k) => k.prover())
        .then((p) => ((cfg.header = "Authorization"), (cfg.scheme = "DPoP"), (d.pr = p))));
  if (cfg.source === "server") src = server(f, base + "token", clock.now, hash, "", bff, dpop);
  else if (cfg.source === "custom") src = (r) => Promise.resolve(cfg.opts.token!(r)).then(fromResult);
  else if (cfg.source === "cookie") src = () => readStored(cookie(doc.cookie, cfg.key));
  else src = () => readStored(w[cfg.source].getItem(cfg.key));
  const gate = on(cfg.opts.gate);
  // The gate hides the page before its first paint (the script runs in
  // <head>); the prompt sets visibility back on itself. A style property,
  // not a <style> element, so a strict style-src CSP does not block it.
  // (Not gated: a throwaway object takes the writes.)
  const html: { visibility: string } = gate ? doc.documentElement.style : {};
  html.visibility = "hidden";
  // With the gate, a token fetch that finds the viewer signed out waits
  // until the sign-in is collected and then fetches again: the requests
  // waiting for it (the cache fetches one token at a time) are held, not
  // sent without the header or dropped, and go out with their bodies intact.
  const plain = src;
  if (gate)
    src = (r) =>
      Promise.resolve(plain(r)).catch((e) => load().then((m) => m.hold(host, asError(e), src)));
  const tokens = manager(
    src,
    cfg.source === "server" || cfg.source === "custom",
    clock,
    (t) => {
      html.visibility = "";
      emit("token", none ? null : t);
    },
    (e) => emit("error", asError(e)),
  );

  // One token cache per connection, made on its first request.
  const conns: { [name: string]: Manager } = {};
  const conn = (n: string) =>
    (conns[n] = conns[n] || manager(server(f, base + "token?connection=" + encodeURIComponent(n), clock.now, hash, n), true, clock, () => 0, fail));

  // The session chunk (session.ts), loaded on first need and checked by its
  // integrity.
  let chunk: Promise<Chunk> | undefined;
  const host: Host = {
    base,
    f,
    w,
    cfg,
    tokens,
    conn,
    emit,
    fail: (e: unknown) => fail(e),
  };
  function chunkOf<T>(name: string, sri: string): Promise<T> {
    return new Promise<T>((ok, no) => {
      const s = doc.createElement("script") as HTMLScriptElement & { th?: unknown };
      s.src = base + name;
      s.integrity = sri;
      s.crossOrigin = ""; // the empty value means "anonymous"
      s.th = ok;
      s.onerror = () => no(Error("cannot load " + s.src));
      doc.head.appendChild(s);
    });
  }
  const load = (): Promise<Chunk> => (chunk = chunk || chunkOf<Chunk>(__SESSION__, __SESSION_SRI__));
  const use = (k: "signIn" | "signOut" | "connect" | "stale" | "dash" | "request_pre" | "request_refresh_jwt", n?: unknown): Promise<any> => load().then((m: any) => m[k](host, n), fail);

  // Not signed in: emit loginrequired, then the app's handler, or the chunk
  // (a prompt in frames and on gated pages, else the login redirect).
  const signIn = () => {
    emit("loginrequired");
    if (cfg.opts.onLoginRequired) return cfg.opts.onLoginRequired();
    use("signIn");
  };
  // A connection the viewer has not linked: connectionrequired {name,
  // connectUrl}, and the chunk loads for TokenHook.connect. Anything else
  // is an "error" event, always a TokenHookError.
  const fail = (x: unknown) => {
    const e = asError(x);
    e.code === "login_required" ? signIn() : e.connectUrl ? (load(), emit("connectionrequired", { name: e.connection, connectUrl: e.connectUrl })) : emit("error", e);
  };
  let dashHooks: DashHooks | undefined;
  const d: Deps = {
    cfg,
    tok: (u) => {
      const n = cfg.origins[new URL(u, d.base()).origin];
      return n ? conn(n) : tokens;
    },
    load,
    base: () => doc.baseURI || loc.href,
    // Same-origin means location.origin, always: a <base> element moves
    // where relative URLs go, never whose origin the page is.
    self: loc.origin,
    dash: () => !!dashHooks,
    fail,
  };
  w.fetch = wrapFetch(f, d);
  if (w.XMLHttpRequest) w.XMLHttpRequest = wrapXHR(w.XMLHttpRequest, d);

  const api: API = {
    getToken: () => tokens.get().then((t) => (none ? null : t), (e) => (fail(e), null)),
    signIn,
    // In the chunk: pages that never sign out do not carry it.
    signOut: () => use("signOut"),
    on(event, fn) {
      (subs[event] = subs[event] || []).push(fn);
      return () => {
        subs[event] = subs[event].filter((g) => g !== fn);
      };
    },
    // The hooks live in the chunk; these stand-ins are returned at once (the
    // renderer is built synchronously) and call into it once it is loaded.
    // The fetch wrapper decorates Dash's endpoints from this call on, so the
    // renderer's first requests carry the token before the store is seeded.
    dash() {
      if (!dashHooks) {
        use("dash");
        dashHooks = {
          request_pre: (x) => use("request_pre", x),
          request_post: () => undefined,
          request_refresh_jwt: (old) => use("request_refresh_jwt", old),
        };
      }
      return dashHooks;
    },
    // In the chunk, which connectionrequired already loaded: the popup
    // opens within the app's click.
    connect: (n) => use("connect", n),
    TokenHookError,
  };
  w.TokenHook = Object.freeze(api);
  // Warm the cache so the first request does not wait. Signed out, a
  // top-level page starts sign-in only once a request needs the token; a
  // frame shows its prompt at once, and a gated page its gate screen.
  if (cfg.source === "server" || gate) tokens.get().catch((e) => w.top !== w.self && fail(e));
  return api;
}

if (typeof window !== "undefined") install(window, document.currentScript as HTMLScriptElement | null);
