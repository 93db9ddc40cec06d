// DPoP (RFC 9449) for the page, loaded as a lazy chunk in dpop mode: a
// non-extractable ECDSA P-256 key kept in IndexedDB, its RFC 7638
// thumbprint, and proofs signed with it. No DOM access besides indexedDB,
// crypto and the chunk hand-over, so it runs under node's test runner (where
// IndexedDB is absent and the key lives in memory).
import { b64u, sha256u } from "./b64";
import type { Prover } from "./tokens";

/** The public half of a P-256 key as a JWK, with only the members RFC 7638 hashes. */
export interface PublicJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
}

/** A proof key: the key pair (private half not extractable), its public JWK and thumbprint. */
export interface DpopKey {
  pair: CryptoKeyPair;
  jwk: PublicJwk;
  /** RFC 7638 SHA-256 thumbprint, base64url: the cnf.jkt of tokens bound to this key. */
  jkt: string;
}

const ALG: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const DB = "tokenhook";
const STORE = "keys";
const NAME = "dpop";
/** How long IndexedDB may take before the key falls back to memory (ms). */
const IDB_TIMEOUT = 3000;

/** thumbprint computes the RFC 7638 SHA-256 thumbprint of an EC public key. */
export function thumbprint(jwk: PublicJwk): Promise<string> {
  // Required members only, in lexicographic order, no whitespace.
  return sha256u(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

/**
 * htu is the proof's htu for url (resolved against base, by default the
 * page's location): scheme, host, port and path; no userinfo, query or
 * fragment.
 */
export function htu(url: string, base: string | undefined = typeof location === "undefined" ? undefined : location.href): string {
  const u = new URL(url, base);
  return u.origin + u.pathname;
}

/**
 * wireMethod is the method as fetch and XMLHttpRequest send it: the six
 * standard names upper-cased, any other (PATCH included) left as written.
 */
export function wireMethod(m: string): string {
  const up = m.toUpperCase();
  return /^(DELETE|GET|HEAD|OPTIONS|POST|PUT)$/.test(up) ? up : m;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("IndexedDB timed out")), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/** isPair: a stored value is a usable key pair (ECDSA, private half not extractable). */
function isPair(v: unknown): v is CryptoKeyPair {
  const p = v as CryptoKeyPair | undefined;
  return !!p && !!p.privateKey && !!p.publicKey && p.privateKey.algorithm.name === "ECDSA" && !p.privateKey.extractable;
}

/** stored returns the pair kept in idb, storing a fresh one when there is none (the first tab to store wins). */
async function stored(idb: IDBFactory, fresh: () => Promise<CryptoKeyPair>): Promise<CryptoKeyPair> {
  const open = idb.open(DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await request(open);
  try {
    const tx = (mode: IDBTransactionMode) => db.transaction(STORE, mode).objectStore(STORE);
    const old = await request(tx("readonly").get(NAME));
    if (isPair(old)) return old;
    const pair = await fresh();
    const value = { privateKey: pair.privateKey, publicKey: pair.publicKey };
    try {
      // add fails when another tab stored its key meanwhile; put replaces
      // a stored value that is not a usable key.
      await request(old === undefined ? tx("readwrite").add(value, NAME) : tx("readwrite").put(value, NAME));
      return pair;
    } catch (e) {
      const other = await request(tx("readonly").get(NAME));
      if (isPair(other)) return other;
      throw e;
    }
  } finally {
    db.close();
  }
}

/**
 * loadKey returns the page's proof key: the one kept in IndexedDB (so a
 * reload keeps it), or a new one stored there. The private key is created
 * with extractable false: page script can sign with it but never read it.
 * Without IndexedDB (or when it fails or takes over 3 s) the key lives in
 * memory only. idb defaults to the global indexedDB; null keeps the key in
 * memory.
 */
export async function loadKey(idb: IDBFactory | null = typeof indexedDB === "undefined" ? null : indexedDB): Promise<DpopKey> {
  const fresh = () => crypto.subtle.generateKey(ALG, false, ["sign", "verify"]) as Promise<CryptoKeyPair>;
  let pair: CryptoKeyPair | undefined;
  if (idb) {
    try {
      pair = await withTimeout(stored(idb, fresh), IDB_TIMEOUT);
    } catch (e) {
      // Private browsing, blocked storage, quota: keep the key in memory.
    }
  }
  pair = pair || (await fresh());
  const pub = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk: PublicJwk = { kty: "EC", crv: "P-256", x: pub.x as string, y: pub.y as string };
  return { pair, jwk, jkt: await thumbprint(jwk) };
}

/**
 * proof returns a DPoP proof JWT for a request: typ dpop+jwt, alg ES256, the
 * public jwk; claims jti (random), htm, htu (url without query or fragment,
 * see htu), iat (now, in ms, default Date.now()), ath when an
 * access token goes with the request, nonce when the server gave one.
 * A relative url is resolved against the page's location.
 */
export async function proof(
  key: DpopKey,
  method: string,
  url: string,
  accessToken?: string,
  nonce?: string,
  now: number = Date.now(),
): Promise<string> {
  const claims: { [k: string]: string | number } = {
    jti: b64u(crypto.getRandomValues(new Uint8Array(16))),
    htm: wireMethod(method),
    htu: htu(url),
    iat: Math.floor(now / 1000),
  };
  if (accessToken) claims.ath = await sha256u(accessToken);
  if (nonce) claims.nonce = nonce;
  const enc = (v: object) => b64u(new TextEncoder().encode(JSON.stringify(v)));
  const input = enc({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk }) + "." + enc(claims);
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.pair.privateKey, new TextEncoder().encode(input));
  return input + "." + b64u(sig);
}

/**
 * prover loads the page's key (loadKey) and returns the proofs the fetch
 * and XHR wrappers and the token source sign with: each carries the latest
 * DPoP-Nonce an answer brought.
 */
export async function prover(idb?: IDBFactory | null): Promise<Prover> {
  const key = await loadKey(idb);
  let nonce: string | undefined;
  return {
    sign: (m, u, t) => proof(key, m, u, t, nonce),
    nonce: (h) => noteNonce(h, (n) => (nonce = n)),
  };
}

/**
 * noteNonce hands an answer's DPoP-Nonce to keep and reports whether the
 * answer asks to retry with it (WWW-Authenticate: DPoP error="use_dpop_nonce").
 */
export function noteNonce(h: { get(name: string): string | null }, keep: (nonce: string) => void): boolean {
  const n = h.get("DPoP-Nonce");
  if (n) keep(n);
  return !!n && /use_dpop_nonce/.test(h.get("WWW-Authenticate") || "");
}

/** What this file hands the main script when loaded as a lazy chunk. */
export interface DpopChunk {
  prover: typeof prover;
  // The main script uses prover only; server/dpop's tests drive the built
  // chunk (in node and Chromium) through these two.
  loadKey: typeof loadKey;
  proof: typeof proof;
}

// Loaded by the main script as a chunk (as the session chunk is), which set
// .th on this script element: hand it the entry points.
if (typeof document !== "undefined") {
  const s = document.currentScript as (HTMLScriptElement & { th?: (c: DpopChunk) => void }) | null;
  if (s && s.th) s.th({ prover, loadKey, proof });
}
