// Test helpers: a manual clock, a recording fetch, a counting token cache
// and the wrappers' dependencies.
import "./defines";
import { parse, UserConfig } from "../src/config";
import { noteNonce } from "../src/dpop";
import type { Deps } from "../src/fetch";
import * as replay from "../src/replay";
import { Clock, manager, Manager, Source } from "../src/tokens";

/** A clock whose timers fire only when advanced. */
export class FakeClock implements Clock {
  t = 1_700_000_000_000;
  timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  now = () => this.t;
  set = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clear = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  /** Moves time forward, firing due timers in order. */
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const x = this.timers[0];
      if (!x || x.at > end) break;
      this.timers.shift();
      this.t = x.at;
      x.fn();
    }
    this.t = end;
  }
}

/** Lets pending promise callbacks run. */
export const flush = () => new Promise((r) => setImmediate(r));

/** A recorded request. */
export interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

/** A fake network: records requests, answers through handler. */
export function network(handler: (r: Seen, n: number) => Response | Promise<Response>, page = "https://app.example.com/dash/") {
  const seen: Seen[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const r = new Request(typeof input === "string" ? new URL(input, page).href : input, init);
    const s: Seen = { url: r.url, method: r.method, headers: r.headers, body: r.body ? await r.text() : "" };
    seen.push(s);
    return handler(s, seen.length);
  }) as typeof fetch;
  return { f, seen };
}

/** A token endpoint answer. */
export function tokenAnswer(token: string, expiresAt: number, date?: number): Response {
  const h: Record<string, string> = { "Content-Type": "application/json", "Cache-Control": "no-store" };
  if (date) h["Date"] = new Date(date).toUTCString();
  return new Response(JSON.stringify({ access_token: token, token_type: "Bearer", expires_at: expiresAt, scope: "openid" }), { headers: h });
}

/** A token cache whose source issues "tok1", "tok2", … (each valid an hour), counting its fetches (each one a refresh grant at the provider). */
export function counted(clock = new FakeClock()) {
  let issued = 0;
  const src: Source = async () => {
    issued++;
    await flush();
    return { token: "tok" + issued, exp: clock.now() + 3600_000 };
  };
  return { m: manager(src, true, clock, () => {}, () => {}), issued: () => issued, clock };
}

/** The fetch and XHR wrappers' dependencies over one token cache, for a page at page; the 401 path is replay.ts itself. */
export function deps(m: Manager, page: string, user: UserConfig = {}, more: Partial<Deps> = {}): Deps {
  return { cfg: parse({}, user), tok: () => m, load: async () => replay, base: () => page, self: new URL(page).origin, dash: () => false, fail: () => {}, ...more };
}

/**
 * stubProver switches d to dpop mode with a prover whose proofs read
 * "p<n>:<method>:<url>:<token>:<nonce>" and which notes nonces as the real
 * one does (real signing: dpop.test.ts).
 */
export function stubProver(d: Deps): void {
  let k = 0;
  let nonce = "";
  d.cfg.header = "Authorization";
  d.cfg.scheme = "DPoP";
  d.pr = { sign: async (m, u, t) => `p${++k}:${m}:${u}:${t}:${nonce}`, nonce: (h) => noteNonce(h, (n) => (nonce = n)) };
}

/** A request the fake XMLHttpRequest sent. */
export interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}
/** What the fake network answers. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A minimal XMLHttpRequest over a fake network (node has none). */
export function fakeXHR(answer: (s: Sent) => Answer) {
  const sent: Sent[] = [];
  class X extends EventTarget {
    readyState = 0;
    status = 0;
    responseText = "";
    responseType = "";
    private res: Record<string, string> = {};
    private req: Sent | null = null;
    private sync = false;
    open(method: string, url: string, async?: boolean) {
      this.sync = async === false;
      this.req = { method, url, headers: {}, body: undefined };
      this.readyState = 1;
      this.status = 0;
      this.dispatchEvent(new Event("readystatechange"));
    }
    setRequestHeader(n: string, v: string) {
      if (this.readyState !== 1 || !this.req) throw new Error("InvalidStateError");
      const k = n.toLowerCase();
      this.req.headers[k] = this.req.headers[k] ? this.req.headers[k] + ", " + v : v;
    }
    send(body?: unknown) {
      if (this.readyState !== 1 || !this.req) throw new Error("InvalidStateError");
      const req = { ...this.req, body };
      sent.push(req);
      const answerNow = () => {
        if (this.readyState !== 1) return;
        const a = answer(req);
        this.status = a.status;
        this.res = {};
        for (const k in a.headers || {}) this.res[k.toLowerCase()] = a.headers![k];
        this.responseText = a.body || "";
        this.readyState = 4;
        for (const t of ["readystatechange", "load", "loadend"]) this.dispatchEvent(new Event(t));
      };
      if (this.sync) answerNow();
      else setImmediate(answerNow);
    }
    abort() {
      this.readyState = 0;
    }
    getResponseHeader(n: string) {
      return this.res[n.toLowerCase()] ?? null;
    }
    set onload(fn: () => void) {
      this.addEventListener("load", fn);
    }
  }
  return { X, sent };
}
