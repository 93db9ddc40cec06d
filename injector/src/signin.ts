// Sign-in without leaving the page (part of the session chunk): inside an
// iframe, or on a gated page whose refresh failed, it shows the "Sign in to
// continue" prompt, opens the popup on the click, and collects the result
// with a claim; a top-level page goes to the login route instead. The
// sign-in window vouches for this frame in one of two ways: it posts a
// one-time code to its opener (the claim carries it), or, with no opener
// (COOP, noopener, Tableau Desktop's system browser), the viewer confirms
// there the short code this prompt shows. Either way a sign-in somebody
// else started can never be claimed by them.
import { b64u } from "./b64";
import { on } from "./config";
import type { Host } from "./session";

/** A prepared popup sign-in: the secret never leaves this page's memory. */
export interface Pending {
  channel: string;
  secret: string;
  /** base64url(SHA-256(secret)), 43 characters. */
  challenge: string;
  /** The short code the sign-in window shows (shortCode of the challenge). */
  short: string;
}

/** How long one sign-in may take (the server's rendezvous TTL). */
export const TTL = 300000;

/**
 * newChannel makes a channel id (18 random bytes), a secret (32 random
 * bytes) and the secret's S256 challenge. It is computed before the click:
 * crypto.subtle.digest is asynchronous, and window.open must run
 * synchronously inside the click handler to count as a user gesture.
 */
export async function newChannel(c: Crypto): Promise<Pending> {
  const secret = b64u(c.getRandomValues(new Uint8Array(32)));
  const channel = b64u(c.getRandomValues(new Uint8Array(18)));
  const d = new Uint8Array(await c.subtle.digest("SHA-256", new TextEncoder().encode(secret)));
  return { channel, secret, challenge: b64u(d), short: shortCode(d) };
}

/**
 * shortCode is the code the viewer compares with the sign-in window's: the
 * first 40 bits of the challenge as eight characters without look-alikes,
 * "ABCD-EFGH" (the server's rendezvous.ShortCode).
 */
export function shortCode(d: Uint8Array): string {
  let s = "";
  for (let i = 0, acc = 0, bits = 0; s.length < 9; ) {
    if (s.length === 4) s += "-";
    if (bits < 5) (acc = ((acc << 8) | d[i++]) & 0xfff), (bits += 8);
    bits -= 5;
    s += "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[(acc >> bits) & 31];
  }
  return s;
}

/** popupURL is the login route for a popup sign-in on channel p. */
export function popupURL(base: string, p: Pending): string {
  return base + "login?popup=1&channel=" + p.channel + "&challenge=" + p.challenge;
}

/**
 * accept decides whether a message event is the popup's "signed in" note
 * and returns its one-time code, or "": only from our own origin, only from
 * the window we opened, only for our channel. Anything else (another
 * origin, another window, another channel, a forged shape) is ignored. The
 * message carries no token, only the code that lets this frame claim.
 */
export function accept(ev: { origin: string; source: unknown; data: any }, origin: string, popup: unknown, channel: string): string {
  const d = ev.data;
  const ok = !!popup && ev.origin === origin && ev.source === popup && !!d && d.type === "tokenhook:signed-in" && d.channel === channel;
  return ok && typeof d.code === "string" ? d.code : "";
}

const CSS =
  ":host{all:initial;position:fixed;z-index:2147483647;visibility:visible;font:15px/1.5 system-ui,sans-serif;color:#1d2330}" +
  ":host(.g){inset:0;display:grid;place-items:center;background:#f6f7f9}" +
  ":host(.p){top:.75rem;left:0;right:0;display:flex;justify-content:center;pointer-events:none}" +
  ".c{pointer-events:auto;max-width:24rem;margin:0 1rem;padding:1.25rem 1.5rem;background:#fff;border-radius:10px;box-shadow:0 2px 10px rgba(0,0,0,.18);text-align:center}" +
  "h2{font-size:1.15rem;margin:0 0 .4rem}p{margin:0 0 .9rem}.k{font:600 1.3rem monospace}.k:empty{display:none}" +
  "button{font:inherit;padding:.45rem 1.1rem;border-radius:6px;border:1px solid #2456d3;background:#2456d3;color:#fff;cursor:pointer}" +
  "button:focus-visible{outline:3px solid #9bb6ff;outline-offset:2px}";

/** A prompt on screen. */
interface UI {
  host: HTMLElement;
  say(s: string): void;
  /** The element focused before the prompt took focus. */
  prev: Element | null;
}

/** The prompt on screen, if any. */
let ui: UI | null = null;

/**
 * show puts the prompt on screen (once; a second call while it is up does
 * nothing). With gate it covers the page; otherwise it is a small dialog at
 * the top. Text, button label, class and extra CSS come from the options
 * signinText, signinButton, signinClass and signinStyle.
 */
export function show(h: Host): void {
  if (ui) return;
  const w = h.w;
  const doc = w.document;
  const o = h.cfg.opts;
  const host = doc.createElement("div");
  host.className = "tokenhook-signin " + (on(h.cfg.opts.gate) ? "g " : "p ") + (o.signinClass || "");
  host.setAttribute("data-tokenhook", "signin");
  const root = host.attachShadow({ mode: "open" });
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, parent: Node, text?: string): HTMLElementTagNameMap[K] => {
    const e = doc.createElement(tag);
    if (text) e.textContent = text;
    parent.appendChild(e);
    return e;
  };
  el("style", root, CSS + (o.signinStyle || ""));
  const card = el("div", root);
  card.className = "c";
  card.setAttribute("role", "dialog");
  if (on(h.cfg.opts.gate)) card.setAttribute("aria-modal", "true");
  card.setAttribute("aria-labelledby", "th-h");
  card.setAttribute("aria-describedby", "th-p");
  el("h2", card, o.signinText || "Sign in to continue").id = "th-h";
  const msg = el("p", card, "Sign-in opens in a new window.");
  msg.id = "th-p";
  msg.setAttribute("aria-live", "polite");
  // The short code the sign-in window may ask the viewer to compare.
  const code = el("p", card);
  code.className = "k";
  const btn = el("button", card, o.signinButton || "Sign in");
  btn.type = "button";
  const cur: UI = { host, say: (s: string) => void (msg.textContent = s), prev: doc.activeElement };
  ui = cur;

  let next: Pending | null = null;
  const prepare = () => {
    next = null;
    if (!w.crypto || !w.crypto.subtle) return cur.say("Sign-in needs a secure (https) page.");
    newChannel(w.crypto).then((p) => (next = p));
  };
  prepare();
  btn.addEventListener("click", () => {
    const p = next;
    if (!p) return;
    // Synchronously, inside the click: popup blockers allow only this.
    const popup = w.open(popupURL(h.base, p), "tokenhook-signin", o.popupFeatures || "popup,width=520,height=680");
    cur.say("Finish signing in in the new window" + (popup ? "" : " (allow pop-ups if none opened)") + ". If it asks, check it shows this code:");
    code.textContent = p.short;
    prepare(); // a fresh channel for another click
    claim(h, cur, p, popup);
  });
  const put = () => {
    (doc.body || doc.documentElement).appendChild(host);
    btn.focus();
  };
  if (doc.body) put();
  else doc.addEventListener("DOMContentLoaded", put);
}

/**
 * claim collects the sign-in for p: POST <base>claim, again after each
 * "pending" (202), every second after a network error or an unexpected
 * answer, until TTL. The popup's note brings the one-time code: the claim
 * in flight is cut short and a new one carries it. Without a note, the
 * claim succeeds once the viewer confirmed the code in the sign-in window.
 * 400, 403, 409 and 410 end this attempt.
 */
async function claim(h: Host, cur: UI, p: Pending, popup: Window | null): Promise<void> {
  const w = h.w;
  const end = Date.now() + TTL;
  let code = "";
  let stop: AbortController | null = null;
  let kick = () => undefined as void;
  const onMsg = (ev: MessageEvent) => {
    const c = accept(ev, w.location.origin, popup, p.channel);
    if (!c || code) return;
    code = c;
    if (stop) stop.abort();
    kick();
  };
  w.addEventListener("message", onMsg);
  try {
    while (ui === cur && Date.now() < end) {
      const c = (stop = new AbortController());
      const r = await h
        .f(h.base + "claim", {
          method: "POST",
          headers: { "X-TokenHook": "1", "Content-Type": "application/json" },
          credentials: "same-origin",
          cache: "no-store",
          signal: c.signal,
          body: JSON.stringify({ channel: p.channel, secret: p.secret, code: code || undefined }),
        })
        .catch(() => null);
      stop = null;
      if (ui !== cur) return;
      const s = r ? r.status : 0;
      if (s === 200) {
        ui = null;
        cur.host.remove();
        const prev = cur.prev as HTMLElement | null;
        if (prev && prev.focus && prev.isConnected) prev.focus();
        return finish(h);
      }
      if (s === 202 || c.signal.aborted) continue;
      if (s === 400 || s === 403 || s === 409 || s === 410) return cur.say("That sign-in could not be used. Sign in again.");
      await new Promise<void>((r) => {
        kick = r;
        w.setTimeout(r, 1000);
      });
    }
    if (ui === cur) cur.say("Sign-in timed out. Sign in again.");
  } finally {
    w.removeEventListener("message", onMsg);
  }
}

/** finish: the sign-in was collected; the frame now has its session cookie. */
function finish(h: Host): void {
  h.tokens.clear();
  h.emit("signedin");
  if (on(h.cfg.opts.reload)) return h.w.location.reload();
  if (h.done) h.done();
}

/**
 * signIn handles "not signed in" (after the loginrequired event): inside a
 * frame (sign-in pages refuse framing), and on a gated page that already had
 * a token (its state must not be lost), it shows the prompt; a top-level
 * page navigates to the login route, once, with its path to come back to.
 */
export function signIn(h: Host): void {
  const w = h.w;
  const loc = w.location;
  if (w.top !== w.self || (on(h.cfg.opts.gate) && h.tokens.recent.length)) return show(h);
  if (h.left) return;
  h.left = true;
  loc.assign(h.base + "login?rd=" + encodeURIComponent(loc.pathname + loc.search + loc.hash));
}
