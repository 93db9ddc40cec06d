// The XMLHttpRequest wrapper: method and URL are captured in open(), the
// header is set in send(); a request whose token was rejected is re-sent once
// with the same body before the app sees the 401 (unless its resource refused
// a fresh token lately: replay.ts decides, in the sign-in chunk).
import { Deps, issuedBy } from "./fetch";
import { appOwned, headerValue, staleAnswer } from "./headers";
import { shouldDecorate } from "./match";
import type { Manager } from "./tokens";

interface State {
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
  /** dpop: the replay's proof. */
  proof?: string;
  replayed?: boolean;
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

  function done(this: XMLHttpRequest, e: Event) {
    const x = this;
    const s = states.get(x);
    // Synchronous requests are never replayed: their caller has already
    // read the answer by the time a new token could arrive.
    if (!s || !s.token || sync(s)) return;
    // HEADERS_RECEIVED / LOADING of a 401 that may yet be replayed: hidden.
    if (x.readyState < 4) return void (!s.replayed && x.readyState > 1 && x.status === 401 && e.stopImmediatePropagation());
    const body = x.responseType === "" || x.responseType === "text" ? x.responseText : "";
    if (!staleAnswer(x.status, x.getResponseHeader("WWW-Authenticate"), body)) return;
    const url = String(s.args[1]);
    // The replay was refused too: the resource says no (replay.ts).
    if (s.replayed) return void d.load().then((k) => k.refused(d, url));
    s.replayed = s.mute = true;
    e.stopImmediatePropagation();
    d.load()
      .then((k) => k.renew(d, s.m!, url, s.token!), () => null)
      // dpop: the replay needs a proof of its own for the fresh token.
      .then((t) => (t && d.pr ? d.pr.sign(s.args[0], new URL(url, d.base()).href, t).then((p) => ((s.proof = p), t)) : t))
      .then((t) => {
        if (states.get(x) !== s || s.aborted) return;
        if (!t) {
          // No better token: let the app see the 401 after all.
          s.mute = false;
          for (const type of EVENTS) x.dispatchEvent(new Event(type));
          return;
        }
        open.apply(x, s.args as any); // its readystatechange (OPENED) stays muted
        s.mute = false;
        for (const h of s.headers) set.call(x, h[0], h[1]);
        s.token = t;
        set.call(x, d.cfg.header, headerValue(d.cfg.scheme, t));
        if (s.proof) set.call(x, "DPoP", s.proof);
        send.call(x, s.body);
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
    const go = (t: string | null) => {
      if (t) set.call(x, c.header, headerValue(c.scheme, (s.token = t)));
      else if (s.own != null) set.call(x, c.header, s.own);
      // dpop: a proof for this request (a synchronous XHR goes without).
      if (t && d.pr && !sync(s))
        return void d.pr.sign(a[0], new URL(String(a[1]), d.base()).href, t).then((p) => {
          if (states.get(x) === s && !s.aborted && x.readyState === 1) set.call(x, "DPoP", p), send.call(x, body);
        });
      send.call(x, body);
    };
    if (!shouldDecorate(a[0], String(a[1]), d.base(), d.self, c, d.dash())) return go(null);
    const m = (s.m = d.tok(String(a[1])));
    if (!c.overwrite && appOwned(s.own, issuedBy(d, m))) return go(null);
    s.body = body;
    const t = m.peek();
    // Synchronous XHR cannot wait for a token: it goes with what we have.
    if (t || sync(s)) return go(t);
    m
      .get()
      .catch((e) => (d.fail(e), null))
      .then((t) => {
        if (states.get(x) === s && !s.aborted && x.readyState === 1) go(t);
      });
  };

  return class extends X {
    constructor() {
      super();
      hook(this);
    }
  };
}
