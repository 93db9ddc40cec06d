// The 401 path (in the session chunk, loaded on the first 401): refresh once
// and replay once when an answer refuses the token a request carried; and,
// when the replay with the fresh token is refused too, believe the resource:
// the token is fine and this resource says no (wrong audience, missing
// scope). Its 401s then go straight to the caller, with no refresh, for a
// while: a page calling it again and again costs the provider nothing. The
// refusal stays with the resource; the fresh token keeps serving every other
// request.
import type { Deps } from "./fetch";
import { headerValue, staleAnswer } from "./headers";
import type { Manager } from "./tokens";
import type { State } from "./xhr";

/** How long a resource that refused a fresh token is believed (ms). */
export const REFUSED_FOR = 60000;
/** How many refusing resources are remembered (the oldest is forgotten first). */
export const REFUSED_MAX = 100;

/**
 * resource is the key a refusal is remembered under: the URL's origin and
 * path (no query), with id-like segments (all digits, or 16 or more hex
 * digits and dashes, like UUIDs) written "*", so /api/items/17 and
 * /api/items/18 are one resource.
 */
export function resource(url: string, base: string): string {
  const u = new URL(url, base);
  return u.origin + u.pathname.replace(/\/(\d+|[\da-f-]{16,})(?=\/|$)/gi, "/*");
}

/** Resources that refused a fresh token, each until a time. */
export interface Refusals {
  has(key: string): boolean;
  add(key: string): void;
}

/** refusals is a bounded table: at most max keys, each kept for ttl ms. */
export function refusals(now: () => number, ttl = REFUSED_FOR, max = REFUSED_MAX): Refusals {
  const m = new Map<string, number>();
  return {
    has(k) {
      if ((m.get(k) || 0) > now()) return true;
      m.delete(k);
      return false;
    },
    add(k) {
      m.delete(k);
      if (m.size >= max) m.delete(m.keys().next().value!);
      m.set(k, now() + ttl);
    },
  };
}

/** One table per page (per Deps). */
const tables = new WeakMap<Deps, Refusals>();
function table(d: Deps): Refusals {
  let t = tables.get(d);
  if (!t) tables.set(d, (t = refusals(Date.now)));
  return t;
}

/**
 * renew: the request to url was refused with token. It resolves to a
 * token to replay with, or null: null when url's resource refused a fresh
 * token lately (no refresh then), when the refresh failed (reported through
 * d.fail), or when it brought back the same token.
 */
export function renew(d: Deps, m: Manager, url: string, token: string): Promise<string | null> {
  if (table(d).has(resource(url, d.base()))) return Promise.resolve(null);
  return m
    .refresh(token)
    .catch((e) => (d.fail(e), null))
    .then((t) => (t !== token ? t : null));
}

/** refused: the replay to url with a fresh token was refused as well. */
export function refused(d: Deps, url: string): void {
  table(d).add(resource(url, d.base()));
}

/** stale tells whether an answer refuses the token it carried (reading a clone; an unreadable body leaves only WWW-Authenticate to judge by). */
async function stale(res: Response): Promise<boolean> {
  return res.status === 401 && staleAnswer(401, res.headers.get("WWW-Authenticate"), await res.clone().text().catch(() => ""));
}

/**
 * again handles a decorated fetch's 401 (method: the request's, as the
 * wrapper sent it): when it refuses the token sent, it renews (see renew)
 * and replays once (from the Request clone or init), so the caller only
 * sees the second answer; a refused replay marks the resource (see refused)
 * and goes to the caller.
 */
export async function again(orig: typeof fetch, d: Deps, m: Manager, res: Response, url: RequestInfo, method: string, i: RequestInit, h: Headers, token: string): Promise<Response> {
  if (!(await stale(res))) return res;
  const u = typeof url === "string" ? url : url.url;
  const fresh = await renew(d, m, u, token);
  if (!fresh || (i.body && (i.body as ReadableStream).getReader)) return res;
  h.set(d.cfg.header, headerValue(d.cfg.scheme, fresh));
  // dpop: a proof of its own for the fresh token.
  if (d.pr) h.set("DPoP", await d.pr.sign(method, u, fresh));
  const a = await orig(url, { ...i, headers: h });
  if (await stale(a)) refused(d, u);
  return a;
}

/**
 * xhr judges a decorated XHR's 401 the wrapper held back (s: its state;
 * www, body: the answer's WWW-Authenticate and text): when it refuses the
 * token sent, the first time it resolves to a token to re-send with (see
 * renew); a refused re-sending marks the resource (see refused). null: the
 * app gets the 401.
 */
export function xhr(d: Deps, s: State, www: string | null, body: string): Promise<string | null> | null {
  const url = String(s.args[1]);
  if (!staleAnswer(401, www, body)) return null;
  if (s.replayed) return refused(d, url), null;
  s.replayed = true;
  return renew(d, s.m!, url, s.token!);
}

/** What the chunk offers the fetch and XHR wrappers. */
export interface Replay {
  again: typeof again;
  xhr: typeof xhr;
}
