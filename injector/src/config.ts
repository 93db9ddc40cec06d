// Configuration from the script tag's data attributes and window.TokenHookConfig.
import { glob, normalizeOrigin, Rules } from "./match";
import type { TokenHookConfig, TokenHookTokenResult } from "./tokenhook";

// The path tokenhook serves its routes under (jsbundle.Prefix, compiled in
// by the build): the default base.
declare const __PREFIX__: string;

/** A token with its expiry (ms since epoch), as a source returns it. */
export interface Token {
  token: string | null;
  exp?: number;
}

/** What a custom token function may return. */
export type CustomResult = TokenHookTokenResult;

/** The page-supplied configuration object (window.TokenHookConfig); all optional. */
export type UserConfig = TokenHookConfig;

/** The parsed configuration. */
export interface Config extends Rules {
  header: string;
  scheme: string;
  /** "server", "localStorage", "sessionStorage", "cookie" or "custom". */
  source: string;
  /** Storage key or cookie name for the storage sources. */
  key: string;
  overwrite: boolean;
  /** The merged raw options (token, onLoginRequired; the session chunk reads its own keys). */
  opts: UserConfig;
  /** Values refused while parsing (the script warns about them on the console). */
  errors: string[];
}

function list(v: string | string[] | undefined): string[] | undefined {
  if (v == null) return undefined;
  return (typeof v === "string" ? v.split(/[\s,]+/) : v).filter((s) => !!s);
}

/** on reads a boolean option: a bare data attribute (""), "true", "1" or true. */
export const on = (v: unknown) => /^(true|1|)$/.test("" + v);

/**
 * parse merges data attributes (a script element's dataset) with the page's
 * TokenHookConfig object; a key set in the object wins over the attribute.
 * Invalid values fall back to the safe default and are listed in errors.
 */
export function parse(data: { [k: string]: string | undefined }, user?: UserConfig | null): Config {
  const u: UserConfig = Object.assign({}, data, user);
  const errors: string[] = [];
  // Exact origin -> "" (the sign-in token) or a connection's name. A
  // connection rule wins over a plain origin; one without a name is refused.
  const origins: { [origin: string]: string } = {};
  const add = (o: string, n: unknown) => {
    const k = normalizeOrigin(o);
    k && typeof n === "string" ? (origins[k] = n) : errors.push(o);
  };
  for (const o of list(u.origins) || []) add(o, "");
  const cs = u.connections;
  for (const p of typeof cs === "string" ? (list(cs) || []).map((s) => s.split("=")) : Object.entries(cs || {})) add(p[0], (p[2] == null && p[1]) || 0);
  let header = u.header || "Authorization";
  if (!/^[\w!#$%&'*+.^`|~-]+$/.test(header)) {
    errors.push(header);
    header = "Authorization";
  }
  let source = u.source || "server";
  let key = "";
  const m = /^(localStorage|sessionStorage|cookie):(.+)$/.exec(source);
  if (m) {
    source = m[1];
    key = m[2];
  } else if (source !== "server") {
    errors.push(source);
    source = "server";
  }
  if (typeof u.token === "function") source = "custom";
  return {
    methods: (list(u.methods) || ["POST"]).map((s) => s.toUpperCase()),
    include: (list(u.include) || []).map(glob),
    exclude: (list(u.exclude) || []).map(glob),
    origins,
    header,
    scheme: u.scheme != null ? u.scheme : "Bearer",
    source,
    key,
    overwrite: on(u.overwrite),
    opts: u,
    base: u.base || __PREFIX__,
    errors,
  };
}

/**
 * readStored interprets a value the app stored itself: a raw token, a JSON
 * string, or a JSON object with access_token (and optional expires_at in
 * seconds).
 */
export function readStored(v: string | null | undefined): Token {
  let j: any = v;
  try {
    j = JSON.parse(v!);
  } catch (e) {
    // a raw token
  }
  return typeof j === "object" ? fromResult(j) : { token: (typeof j === "string" ? j : v) || null };
}

/** fromResult converts a custom function's or the server's answer. */
export function fromResult(r: CustomResult): Token {
  if (!r) return { token: null };
  if (typeof r === "string") return { token: r };
  return {
    token: (typeof r.access_token === "string" && r.access_token) || null,
    exp: typeof r.expires_at === "number" ? r.expires_at * 1000 : undefined,
  };
}

/** cookie returns the value of one cookie from a document.cookie string. */
export function cookie(all: string, name: string): string | null {
  for (const part of all.split(/;\s*/)) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i) === name) {
      try {
        return decodeURIComponent(part.slice(i + 1));
      } catch (e) {
        return part.slice(i + 1);
      }
    }
  }
  return null;
}
