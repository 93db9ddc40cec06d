// The session chunk: the second bundle, loaded by the main script on first
// need (checked by its SRI), with everything about the viewer's session
// beyond sending the token the page already has: signing in (signin.ts:
// the prompt, the popup hand-over, the login redirect), holding a gated
// page's requests while signed out, signing out, linking a connection,
// the refresh-and-replay after a refused token (replay.ts, with the
// X-TokenHook-Stale hash), and the Dash renderer hooks that push the
// session's token into the renderer (dash.ts). A page that never signs in,
// never sees a 401 and is no Dash app never downloads it.
import { Config, Token } from "./config";
import { hooks, DashHooks } from "./dash";
import { again, xhr, Replay } from "./replay";
import { signIn } from "./signin";
import type { TokenHookError } from "./tokenhook";
import { Clock, Manager, Source, staleHash } from "./tokens";

/** What the main script hands to the chunk. */
export interface Host {
  /** Absolute URL of tokenhook's routes, ending in "/". */
  base: string;
  /** The original (unwrapped) fetch. */
  f: typeof fetch;
  /** The window. */
  w: Window;
  /** The parsed configuration (cfg.opts: the raw merged options). */
  cfg: Config;
  /** The token cache (signOut clears it). */
  tokens: Manager;
  /** A connection's token cache. */
  conn(name: string): Manager;
  /** Emits a TokenHook event. */
  emit(event: string, arg?: unknown): void;
  /** Reports a failure (sign-in starts when it is login_required; anything else becomes a TokenHookError). */
  fail(e: unknown): void;
  /** The Dash renderer hooks, made on the first TokenHook.dash() (see dash). */
  dash?: DashHooks;
  /** Set once the page started navigating to the login route. */
  left?: boolean;
  /** Releases the token fetch a gated page holds while signed out (set by hold). */
  done?(): void;
}

/** What the chunk hands back to the main script. */
export interface Chunk extends Replay {
  dash(h: Host): DashHooks;
  request_pre(h: Host, payload: unknown): void;
  request_refresh_jwt(h: Host, old: string | null): Promise<string | null>;
  signIn(h: Host): void;
  signOut(h: Host): Promise<void>;
  connect(h: Host, name: string): Promise<boolean>;
  stale(h: Host, token: string): Promise<string>;
  hold(h: Host, e: TokenHookError, src: Source): Promise<Token>;
}

/** dash builds the Dash renderer hooks (see dash.ts) for TokenHook.dash(). */
export function dash(h: Host): DashHooks {
  return (h.dash = h.dash || hooks(h.tokens, h.cfg, h.w as any, { set: (fn: () => void, ms: number) => h.w.setTimeout(fn, ms) } as Clock, h.fail, (fn) => (h.w as any).TokenHook.on("token", fn)));
}

/**
 * signOut (TokenHook.signOut): forgets the token, ends the server session
 * (POST <base>logout), emits "signedout", then a top-level page follows the
 * provider's logout URL if the server gave one (http or https only). A frame
 * stays where it is: the provider's pages refuse framing.
 */
export async function signOut(h: Host): Promise<void> {
  h.tokens.clear();
  const loc = h.w.location;
  let to = "";
  try {
    const r = await h.f(h.base + "logout", { method: "POST", headers: { "X-TokenHook": "1" }, credentials: "same-origin" });
    // The main script's class (window.TokenHook's), so instanceof holds.
    if (!r.ok) throw new (h.w as any).TokenHook.TokenHookError("http", "logout: HTTP " + r.status, r.status);
    to = (await r.json()).logout_url || "";
  } catch (e) {
    h.fail(e);
  }
  h.emit("signedout");
  if (to && h.w.top === h.w.self && /^https?:$/.test(new URL(to, loc.href).protocol)) loc.assign(to);
}

/** connectURL is the route that links connection name, coming back to rd. */
export function connectURL(base: string, name: string, rd: string): string {
  return base + "connect/" + encodeURIComponent(name) + "?rd=" + encodeURIComponent(rd);
}

/**
 * connect (TokenHook.connect, called from the app's click handler): opens
 * the connect route for name in a popup, then, once the viewer closed it,
 * fetches the connection's token afresh; resolves true and emits "connected"
 * {name} when there is one. With the popup blocked, the page goes to the
 * connect route and comes back.
 */
export function connect(h: Host, name: string): Promise<boolean> {
  const w = h.w;
  const loc = w.location;
  const u = connectURL(h.base, name, loc.pathname + loc.search + loc.hash);
  const popup = w.open(u + "&popup=1", "tokenhook-connect", h.cfg.opts.popupFeatures || "popup,width=520,height=680");
  if (!popup) return loc.assign(u), Promise.resolve(false);
  return new Promise((ok) => {
    const t = w.setInterval(() => {
      if (!popup.closed) return;
      w.clearInterval(t);
      const m = h.conn(name);
      m.clear();
      m.get()
        .catch(() => null)
        .then((tok) => {
          if (tok) h.emit("connected", { name });
          ok(!!tok);
        });
    }, 500);
  });
}

/**
 * hold (gated pages): a token fetch that finds the viewer signed out starts
 * sign-in and waits until it is collected, then fetches again: the requests
 * waiting for it are held, not sent without the header or dropped, and go
 * out with their bodies intact. Other errors pass through.
 */
export function hold(h: Host, e: TokenHookError, src: Source): Promise<Token> {
  if (e.code !== "login_required") throw e;
  h.fail(e);
  return new Promise<void>((ok) => (h.done = ok)).then(() => src());
}

/** The entry points this chunk hands to the main script. */
export const entry: Chunk = {
  signIn,
  signOut,
  connect,
  hold,
  stale: (h, t) => staleHash(t),
  again,
  xhr,
  dash,
  // The main script's stand-ins for the renderer hooks call these.
  request_pre: (h, x) => dash(h).request_pre(x),
  request_refresh_jwt: (h, old) => dash(h).request_refresh_jwt(old),
};

// Loaded by the main script, which set .th on this script element: hand it
// the entry points.
if (typeof document !== "undefined") {
  const s = document.currentScript as (HTMLScriptElement & { th?: (c: Chunk) => void }) | null;
  if (s && s.th) s.th(entry);
}
