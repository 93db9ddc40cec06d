// The window.fetch wrapper.
import { Config } from "./config";
import { appOwned, headerValue, merge, staleAnswer } from "./headers";
import { shouldDecorate } from "./match";
import { Manager } from "./tokens";

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
  /** Loads the sign-in chunk, which holds again (the refresh and replay after a 401). */
  load(): Promise<{ again: typeof again }>;
  /** Reports a token failure (and starts sign-in when it is login_required). */
  fail(e: unknown): void;
}

/** issuedBy tells whether a header value carries one of m's recent tokens. */
export function issuedBy(d: Deps, m: Manager): (v: string) => boolean {
  return (v) => m.recent.some((t) => headerValue(d.cfg.scheme, t) === v);
}

/** stale tells whether an answer refuses the token it carried (reading a clone; an unreadable body leaves only WWW-Authenticate to judge by). */
async function stale(res: Response): Promise<boolean> {
  return res.status === 401 && staleAnswer(401, res.headers.get("WWW-Authenticate"), await res.clone().text().catch(() => ""));
}

/**
 * wrapFetch returns a fetch that adds the token header to matching
 * requests, and after a 401 that rejects the token it sent, refreshes once
 * and replays once (a Request from a clone taken before sending), so the
 * caller only sees the second answer. Requests it does not decorate go to orig untouched.
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
    // A Request's body can be read once: keep a copy for the replay. A body
    // given in init is sent again from init (unless it is a stream).
    const spare = req && req.clone();
    const res = await orig(req || url, { ...i, headers: h });
    // A 401: the refresh and the replay are in the sign-in chunk.
    return res.status - 401 ? res : d.load().then((k) => k.again(orig, d, m, res, spare || url, i, h, token), () => res);
  };
}

/**
 * again handles a decorated request's 401 (in the sign-in chunk): when it
 * rejects the token sent, it refreshes once and replays once (from the
 * clone or init), so the caller only sees the second answer.
 */
export async function again(orig: typeof fetch, d: Deps, m: Manager, res: Response, url: RequestInfo, i: RequestInit, h: Headers, token: string): Promise<Response> {
  const c = d.cfg;
  if (!(await stale(res))) return res;
  const fresh = await m.refresh(token).catch((e) => (d.fail(e), null));
  if (!fresh || fresh === token || (i.body && (i.body as ReadableStream).getReader)) return res;
  h.set(c.header, headerValue(c.scheme, fresh));
  const a = await orig(url, { ...i, headers: h });
  // Refused too: later callers (request_refresh_jwt, getToken) must get a
  // token past this one, not the cached copy.
  if (await stale(a)) m.reject(fresh);
  return a;
}
