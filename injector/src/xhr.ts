// The XMLHttpRequest wrapper: method and URL are captured in open(), the
// header is set in send(); a request whose token was rejected is re-sent once
// with the same body before the app sees the 401 (unless its resource refused
// a fresh token lately: replay.ts decides, in the session chunk). In dpop
// mode each sending carries a fresh proof, and a 401 use_dpop_nonce is
// re-sent once with a proof carrying the server's new nonce.
import { Deps, issuedBy } from "./fetch";
import { appOwned, headerValue } from "./headers";
import { shouldDecorate } from "./match";
import type { Manager } from "./tokens";

/** What the wrapper keeps per request (replay.ts's xhr reads and marks it too). */
export interface State {
  /** The open() arguments (method, url, async, …), also for the replay. */
  args: IArguments;
  /** Headers the app set, except ours (replayed as they were). */
  headers: [string, string][];
  /** The app's own value for our header, if it set one. */
  own: string | null;
  body?: Document | XMLHttpRequestBodyInit | null;
  /** The token cache for this request's URL. */
  m?: Manager;
  /** The token sent, when we decorated this request. */
  token?: string;
  replayed?: boolean;
  /** dpop: re-sent once already after use_dpop_nonce. */
  nonced?: boolean;
  /** Swallow the events of the rejected answer. */
  mute?: boolean;
  aborted?: boolean;
}

/** sync: open() was called with async = false. */
const sync = (s: State) => s.args.length > 2 && !s.args[2];

/** The events of a finished answer (muted while a replay is decided). */
const EVENTS = ["readystatechange", "load", "loadend"];

/**
 * wrapXHR patches X.prototype (open, setRequestHeader, send, abort) in place
 * and returns a subclass of X to install as window.XMLHttpRequest. The app's
 * value for our header is held back until send(), because XHR can only
 * append to a header, never replace it.
 *
 * Hiding a rejected answer needs our listeners to run before the app's. At
 * the target, browsers call listeners in registration order (checked in
 * Chromium: capture listeners get no head start there), so the subclass
 * registers ours in its constructor, before the app can add any. Instances
 * made from a constructor saved before this script ran get them at open():
 * those hide the 401 only from listeners added after open() (what jQuery and
 * axios do). If the refresh brings no new token, the swallowed events are
 * dispatched again so the app still sees the 401.
 */
export function wrapXHR(X: { new (): XMLHttpRequest; prototype: XMLHttpRequest }, d: Deps): { new (): XMLHttpRequest } {
  const P = X.prototype;
  const open = P.open;
  const set = P.setRequestHeader;
  const send = P.send;
  const abort = P.abort;
  const states = new WeakMap<XMLHttpRequest, State>();
  const ours = (n: string) => n.toLowerCase() === d.cfg.header.toLowerCase();

  function mute(this: XMLHttpRequest, e: Event) {
    const s = states.get(this);
    if (s && s.mute) e.stopImmediatePropagation();
  }

  /**
   * fire sends x (state s) with token t, or with the app's own value for
   * our header when t is null. In dpop mode (asynchronous requests) a proof
   * is signed first. again: a re-sending, open() is called anew and the
   * app's headers are set again (its readystatechange, OPENED, stays muted).
   */
  function fire(x: XMLHttpRequest, s: State, t: string | null, again?: boolean) {
    const c = d.cfg;
    const a = s.args;
    const go = (p?: string) => {
      if (again) {
        open.apply(x, a as any);
        s.mute = false;
        for (const h of s.headers) set.call(x, h[0], h[1]);
      }
      if (t) set.call(x, c.header, headerValue(c.scheme, (s.token = t)));
      else if (s.own != null) set.call(x, c.header, s.own);
      if (p) set.call(x, "DPoP", p);
      send.call(x, s.body);
    };
    if (!t || !d.pr || sync(s)) return go();
    d.pr.sign(a[0], new URL(String(a[1]), d.base()).href, t).then((p) => {
      // Unless the app aborted or opened x anew meanwhile.
      if (states.get(x) === s && !s.aborted) go(p);
    });
  }

  function done(this: XMLHttpRequest, e: Event) {
    const x = this;
    const s = states.get(x);
    // Synchronous requests are never replayed: their caller has already
    // read the answer by the time a new token could arrive.
    if (!s || !s.token || sync(s)) return;
    // HEADERS_RECEIVED / LOADING of a 401 that may yet be replayed: hidden.
    if (x.readyState < 4) return void (!s.replayed && x.readyState > 1 && x.status === 401 && e.stopImmediatePropagation());
    const hide = () => ((s.mute = true), e.stopImmediatePropagation());
    // dpop: note the answer's nonce; use_dpop_nonce: once more, same token.
    if (d.pr && d.pr.nonce({ get: (n) => x.getResponseHeader(n) }) && !s.nonced) return (s.nonced = true), hide(), fire(x, s, s.token, true);
    const body = x.responseType === "" || x.responseType === "text" ? x.responseText : "";
    const www = x.getResponseHeader("WWW-Authenticate");
    // A 401 that may refuse the token sent is held back; the chunk judges
    // it exactly (replay.ts: xhr) and says which token to re-send with, if any.
    if (x.status !== 401 || !/invalid_token|JWT Expired/.test(www + body)) return;
    hide();
    d.load()
      .then((k) => k.xhr(d, s, www, body), () => null)
      .then((t) => {
        if (states.get(x) !== s || s.aborted) return;
        if (t) return fire(x, s, t, true);
        // No better token: let the app see the 401 after all (done leaves
        // these events alone: the state no longer holds a token).
        s.mute = s.token = undefined;
        for (const type of EVENTS) x.dispatchEvent(new Event(type));
      });
  }

  // Registers our listeners; the empty state marks the instance as hooked.
  function hook(x: XMLHttpRequest) {
    x.addEventListener("readystatechange", done, true);
    for (const type of EVENTS) x.addEventListener(type, mute, true);
    states.set(x, {} as State);
  }

  P.open = function (this: XMLHttpRequest) {
    if (!states.has(this)) hook(this);
    states.set(this, { args: arguments, headers: [], own: null });
    return open.apply(this, arguments as any);
  } as typeof P.open;

  P.setRequestHeader = function (this: XMLHttpRequest, name: string, value: string) {
    const s = states.get(this);
    if (s && this.readyState === 1) {
      if (ours(name)) {
        s.own = s.own == null ? String(value) : s.own + ", " + value;
        return;
      }
      s.headers.push([name, value]);
    }
    return set.call(this, name, value);
  };

  P.abort = function (this: XMLHttpRequest) {
    const s = states.get(this);
    if (s) s.aborted = true;
    return abort.call(this);
  };

  P.send = function (this: XMLHttpRequest, body?: Document | XMLHttpRequestBodyInit | null) {
    const x = this;
    const s = states.get(x);
    if (!s || x.readyState !== 1) return send.call(x, body);
    const c = d.cfg;
    const a = s.args;
    s.body = body;
    if (!shouldDecorate(a[0], String(a[1]), d.base(), d.self, c, d.dash())) return fire(x, s, null);
    const m = (s.m = d.tok(String(a[1])));
    if (!c.overwrite && appOwned(s.own, issuedBy(d, m))) return fire(x, s, null);
    const t = m.peek();
    // Synchronous XHR cannot wait for a token: it goes with what we have
    // (and without a proof in dpop mode).
    if (t || sync(s)) return fire(x, s, t);
    m
      .get()
      .catch((e) => (d.fail(e), null))
      .then((t) => {
        if (states.get(x) === s && !s.aborted) fire(x, s, t);
      });
  };

  return class extends X {
    constructor() {
      super();
      hook(this);
    }
  };
}
