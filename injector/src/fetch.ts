// The window.fetch wrapper.
import { Config } from "./config";
import { appOwned, headerValue, merge } from "./headers";
import { shouldDecorate } from "./match";
import type { Replay } from "./replay";
import { Manager, Prover } from "./tokens";

/** What the fetch and XHR wrappers need from the rest of the script. */
export interface Deps {
  cfg: Config;
  /** The token cache for a decorated request's URL: a connection's for its origin, else the sign-in token's. */
  tok(url: string): Manager;
  /** The URL requests are resolved against (document.baseURI). */
  base(): string;
  /** The page's own origin (location.origin, never the base URL's). */
  self: string;
  /** True once dash() was called: Dash endpoints are decorated for every method. */
  dash(): boolean;
  /** Loads the session chunk, which holds the 401 path (replay.ts). */
  load(): Promise<Replay>;
  /** Reports a token failure (and starts sign-in when it is login_required). */
  fail(e: unknown): void;
  /** The proofs, once the token endpoint asked for them (--browser-token dpop). */
  pr?: Prover;
}

/** issuedBy tells whether a header value carries one of m's recent tokens. */
export function issuedBy(d: Deps, m: Manager): (v: string) => boolean {
  return (v) => m.recent.some((t) => headerValue(d.cfg.scheme, t) === v);
}

/**
 * wrapFetch returns a fetch that adds the token header to matching
 * requests, and after a 401 that rejects the token it sent, refreshes once
 * and replays once (a Request from a clone taken before sending), so the
 * caller only sees the second answer; a resource that refused a fresh token
 * too gets no refresh for a while (replay.ts). Requests it does not decorate go to orig untouched.
 */
export function wrapFetch(orig: typeof fetch, d: Deps): typeof fetch {
  return async function (input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const c = d.cfg;
    const req = input instanceof Request ? input : null;
    const i = init || {};
    const method = i.method || (req ? req.method : "GET");
    // The URL checked is the URL sent: resolved here against the same base.
    const url = req ? req.url : new URL(String(input), d.base()).href;
    // no-cors requests cannot carry Authorization (the browser drops it).
    if ((i.mode || (req && req.mode)) === "no-cors" || !shouldDecorate(method, url, d.base(), d.self, c, d.dash())) {
      return orig(input, init);
    }
    const h = merge(req && req.headers, i.headers);
    const m = d.tok(url);
    if (!c.overwrite && appOwned(h.get(c.header), issuedBy(d, m))) return orig(input, init);
    const failed = (e: unknown) => (d.fail(e), null);
    const token = await m.get().catch(failed);
    if (!token) return orig(input, init);
    h.set(c.header, headerValue(c.scheme, token));
    // dpop: a fresh proof for each request sent, and one retry when the
    // server asks for a newer nonce (use_dpop_nonce).
    const pr = d.pr;
    const sign = async () => pr && h.set("DPoP", await pr.sign(method, url, token));
    await sign();
    // A Request's body can be read once: keep a copy for the replay. A body
    // given in init is sent again from init (unless it is a stream).
    const spare = req && req.clone();
    let res = await orig(req || url, { ...i, headers: h });
    if (pr && pr.nonce(res.headers)) res = await sign().then(() => orig(spare ? spare.clone() : url, { ...i, headers: h }));
    // A 401: the refresh and the replay are in the session chunk (replay.ts).
    return res.status - 401 ? res : d.load().then((k) => k.again(orig, d, m, res, spare || url, method, i, h, token), () => res);
  };
}
