// The token cache: in memory only (this closure), single-flight fetching,
// proactive refresh before expiry, forced refresh after a rejection. A
// resource refusing a fresh token does not mark the token (replay.ts keeps
// that per resource): the token keeps serving every other request.
import { sha256u } from "./b64";
import { Token } from "./config";
import { TokenHookError } from "./tokenhook";

/** Timer and clock, injectable for tests. */
export interface Clock {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(h: unknown): void;
}

/** A token source; rejected is the token a backend just refused, if any. */
export type Source = (rejected?: string) => Token | Promise<Token>;

/** The cache's interface to the rest of the script. */
export interface Manager {
  /** A usable token right now, without waiting, or null. */
  peek(): string | null;
  /** A usable token, fetching it (at most one fetch at a time) if needed. */
  get(): Promise<string | null>;
  /** A token other than rejected: joins a running fetch or forces a new one. */
  refresh(rejected?: string): Promise<string | null>;
  /** Forget the token (sign-out). */
  clear(): void;
  /** Tokens handed out recently, newest first (to recognise stale copies). */
  recent: string[];
}

/** How long before expiry the proactive refresh runs: min(30 s, lifetime/3). */
export function lead(lifetime: number): number {
  return Math.min(30000, lifetime / 3);
}

/**
 * manager wraps a source. With cache false (the app's own storage or
 * cookie), the source must answer synchronously and is read again on every
 * call: the app owns that token and may replace it at any time.
 */
export function manager(src: Source, cache: boolean, clock: Clock, onToken: (t: string) => void, onError: (e: unknown) => void): Manager {
  let cur: string | null = null;
  let exp = 0; // expiry (ms, local clock) or 0 = unknown: valid until rejected
  let life = 0;
  let timer: unknown;
  let flight: Promise<string | null> | null = null;
  const recent: string[] = [];

  function store(t: Token): string | null {
    const old = cur;
    cur = t.token;
    exp = t.exp || 0;
    life = exp - clock.now();
    if (cur && recent.indexOf(cur) < 0) {
      recent.unshift(cur);
      recent.length = Math.min(recent.length, 4);
    }
    if (cache) {
      clock.clear(timer);
      // Refresh lead(lifetime) ahead of expiry. If the server hands back the
      // same token (it refreshes on its own schedule), the lifetime left is
      // shorter each time, so the retries close in on expiry geometrically,
      // at most one a second, instead of spinning.
      if (cur && life > 0) timer = clock.set(() => fetch().catch(onError), Math.min(2147483647, Math.max(1000, life - lead(life))));
    }
    if (cur && cur !== old) onToken(cur);
    return cur;
  }

  function usable(): string | null {
    // Not cached: the app's own storage, read again (synchronously) each time.
    if (!cache) return store(src() as Token);
    // A small margin for the request's own travel time.
    return cur && (!exp || clock.now() + Math.min(5000, life / 6) < exp) ? cur : null;
  }

  function fetch(rejected?: string): Promise<string | null> {
    if (!flight) {
      const done = () => {
        flight = null;
      };
      flight = Promise.resolve()
        .then(() => src(rejected))
        .then(
          (t) => (done(), store(t)),
          (e) => {
            done();
            throw e;
          },
        );
    }
    return flight;
  }

  return {
    peek: usable,
    get: () => Promise.resolve(usable() || fetch()),
    refresh(rejected?: string) {
      const u = usable();
      if (u && u !== rejected) return Promise.resolve(u);
      // A fetch already under way may have been started before the
      // rejection was known; if it brings back the same token, force again.
      const f = flight;
      return f ? f.then((t) => (t && t !== rejected ? t : fetch(rejected))) : fetch(rejected);
    },
    clear() {
      clock.clear(timer);
      cur = null;
      exp = 0;
    },
    recent,
  };
}

/** The proofs of --browser-token dpop (their key and signing are in the dpop chunk). */
export interface Prover {
  /** A fresh DPoP proof for a request (method, absolute URL) and the token going with it. */
  sign(method: string, url: string, token?: string): Promise<string>;
  /** Notes the DPoP-Nonce of an answer's headers; true when the answer asks to retry with it (use_dpop_nonce). */
  nonce(headers: { get(name: string): string | null }): boolean;
}

/**
 * staleHash is base64url(sha256(token)) without padding, the value of the
 * X-TokenHook-Stale header. It needs crypto.subtle (secure contexts: https,
 * localhost); elsewhere it resolves to "" and the header is left out.
 */
export async function staleHash(token: string): Promise<string> {
  return typeof crypto !== "undefined" && crypto.subtle ? sha256u(token) : "";
}

/**
 * server is the default source: GET <base>token with X-TokenHook: 1 (the
 * server's CSRF guard) and, after a rejection, X-TokenHook-Stale (hash:
 * staleHash, which the main script borrows from the session chunk). The
 * answer's expires_at is moved onto the local clock using the response's
 * Date header, so a skewed viewer clock neither spins nor overstays. It
 * rejects with a TokenHookError: code login_required or
 * connection_required for a 401 saying so (for a connection's source, conn
 * is its name and connectUrl the server's connect route), else http. An
 * answer with token_type "none"
 * (the server keeps the token) gives the token "1" and calls bff first.
 * An answer {"token_type":"DPoP"} without a token, or a 400, with a
 * DPoP-Nonce (--browser-token dpop: the request needs a proof) switches to
 * dpop mode (dpop loads the key) and asks again with a proof; every later
 * request signs with that prover from the start.
 */
export function server(f: typeof fetch, url: string, now: () => number, hash: (t: string) => Promise<string>, conn?: string, bff?: () => void, dpop?: (() => Promise<Prover>) | null): Source {
  let p: Prover | undefined;
  return async (rejected?: string) => {
    const h: Record<string, string> = { "X-TokenHook": "1" };
    const stale = rejected ? await hash(rejected) : "";
    if (stale) h["X-TokenHook-Stale"] = stale;
    const go = async () => (p && (h.DPoP = await p.sign("GET", url)), f(url, { headers: h, credentials: "same-origin", cache: "no-store" }));
    let res = await go();
    // Not JSON: judged by the status below.
    const json = () => res.json().catch(() => ({}));
    let body = await json();
    // dpop: the answer names the scheme without a token (or a proof's
    // nonce is stale): ask again with a proof and the nonce.
    if (dpop && res.headers.get("DPoP-Nonce") && (res.status === 400 || (body.token_type === "DPoP" && !body.access_token))) {
      (p = await dpop()).nonce(res.headers);
      res = await go();
      body = await json();
    }
    if (p) p.nonce(res.headers);
    // The message is the server's error_description ("sign in at …", "link NAME first").
    const e = body.error;
    if (res.status === 401 && (e === "login_required" || e === "connection_required"))
      throw new TokenHookError(e, body.error_description || e, 401, conn || undefined, body.connect_url);
    // --browser-token none: no token for the page, only the session's expiry.
    const none = body.token_type === "none";
    if (!res.ok || (!none && typeof body.access_token !== "string")) throw new TokenHookError("http", "token endpoint: HTTP " + res.status, res.status, conn || undefined);
    if (none && bff) bff();
    const date = Date.parse(res.headers.get("Date") || "");
    const skew = date ? now() - date : 0;
    return {
      token: none ? "1" : body.access_token,
      exp: typeof body.expires_at === "number" ? body.expires_at * 1000 + skew : undefined,
    };
  };
}
