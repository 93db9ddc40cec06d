// tokenhook browser hook: adds "Authorization: Bearer <viewer's token>" to the
// page's matching fetch and XMLHttpRequest calls. Entry point of the bundle.
import { cookie, CustomResult, fromResult, parse, readStored } from "./config";
import { hooks, DashHooks } from "./dash";
import { Deps, wrapFetch } from "./fetch";
import { wrapXHR } from "./xhr";
import { Clock, manager, server, Source } from "./tokens";

/** window.TokenHook. */
export interface API {
  getToken(): Promise<string | null>;
  signIn(): void;
  signOut(): Promise<void>;
  on(event: string, fn: (arg?: any) => void): () => void;
  dash(): DashHooks;
}

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
  for (const e of cfg.errors) console.warn("tokenhook: ignored " + e);
  const base = new URL(cfg.base, loc.href).href;
  const subs: { [event: string]: ((arg?: any) => void)[] } = {};
  // Listeners run in their own tasks: a throwing listener cannot break us.
  const emit = (event: string, arg?: unknown) => {
    for (const fn of subs[event] || []) w.setTimeout(fn, 0, arg);
  };
  const clock: Clock = { now: () => Date.now(), set: (fn, ms) => w.setTimeout(fn, ms), clear: (h) => w.clearTimeout(h) };
  const f: typeof fetch = w.fetch.bind(w);
  let src: Source;
  if (cfg.source === "server") src = server(f, base + "token", clock.now);
  else if (cfg.source === "custom") src = (r) => Promise.resolve(cfg.token!(r)).then((v: CustomResult) => fromResult(v));
  else if (cfg.source === "cookie") src = () => readStored(cookie(doc.cookie, cfg.key));
  else src = () => readStored(w[cfg.source].getItem(cfg.key));
  const tokens = manager(src, cfg.source === "server" || cfg.source === "custom", clock, (t) => emit("token", t), (e) => emit("error", e));

  let leaving = false;
  // Not signed in. The hook point for framed pages (the iframe sign-in
  // issue): TokenHookConfig.onLoginRequired, or the loginrequired event.
  const signIn = () => {
    emit("loginrequired");
    if (cfg.onLoginRequired) return cfg.onLoginRequired();
    if (w.top !== w.self || leaving) return; // a frame must not navigate itself away to the IdP
    leaving = true;
    loc.assign(base + "login?rd=" + encodeURIComponent(loc.pathname + loc.search + loc.hash));
  };
  const fail = (e: unknown) => ((e as Error).name === "LoginRequired" ? signIn() : emit("error", e));

  let dashHooks: DashHooks | undefined;
  const d: Deps = { cfg, tokens, base: () => doc.baseURI || loc.href, dash: () => !!dashHooks, fail };
  w.fetch = wrapFetch(f, d);
  if (w.XMLHttpRequest) w.XMLHttpRequest = wrapXHR(w.XMLHttpRequest, d);

  const api: API = {
    getToken: () => tokens.get().catch((e) => (fail(e), null)),
    signIn,
    async signOut() {
      tokens.clear();
      let to = "";
      try {
        const r = await f(base + "logout", { method: "POST", headers: { "X-TokenHook": "1" }, credentials: "same-origin" });
        to = (await r.json()).logout_url || "";
      } catch (e) {
        emit("error", e);
      }
      emit("signedout");
      if (to && /^https?:$/.test(new URL(to, loc.href).protocol)) loc.assign(to);
    },
    on(event, fn) {
      (subs[event] = subs[event] || []).push(fn);
      return () => {
        subs[event] = subs[event].filter((g) => g !== fn);
      };
    },
    dash: () => (dashHooks = dashHooks || hooks(tokens, cfg.header, cfg.scheme, w, clock, fail, (fn) => api.on("token", fn))),
  };
  w.TokenHook = Object.freeze(api);
  // Warm the cache so the first request does not wait; a failure here only
  // matters once a request needs the token (then sign-in starts).
  if (cfg.source === "server") tokens.get().catch(() => undefined);
  return api;
}

if (typeof window !== "undefined") install(window, document.currentScript as HTMLScriptElement | null);
