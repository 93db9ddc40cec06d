// Deciding which requests get the token: exact origin, method and path rules.
// Pure functions: no DOM access, so they run under node's test runner.

/** What a request must satisfy to be decorated. */
export interface Rules {
  /** Upper-case methods, or ["*"] for all. */
  methods: string[];
  /** Path globs; empty = every path. */
  include: RegExp[];
  /** Path globs that are never decorated. */
  exclude: RegExp[];
  /**
   * Exact origins besides the page's own ("https://host[:port]"), each
   * mapped to "" (the sign-in token) or the name of the connection whose
   * token it gets.
   */
  origins: { [origin: string]: string };
  /**
   * Where tokenhook's own routes live (the configured base, ending in "/";
   * relative to the page's origin, or absolute): requests under it are
   * never decorated.
   */
  base: string;
}

/**
 * normalizeOrigin turns a configured origin into its canonical serialization
 * ("https://api.example.com", default port dropped, host lower-cased) or
 * returns "" when the value is not exactly an http(s) origin: a path, query,
 * fragment, userinfo or wildcard is refused rather than guessed at.
 */
export function normalizeOrigin(s: string): string {
  // The pattern refuses paths, queries, fragments, userinfo and wildcards.
  try {
    return /^https?:\/\/[^/?#@*\\\s]+\/?$/i.test(s) ? new URL(s).origin : "";
  } catch (e) {
    return "";
  }
}

/**
 * originAllowed reports whether url (already resolved against the page) has
 * the page's own origin or one of the extra exact origins. Comparison is on
 * URL.origin strings, never on prefixes, so "https://api.example.com.evil.net"
 * does not match "https://api.example.com". URLs with userinfo are refused
 * (browsers reject them in fetch anyway; XHR would send them).
 */
export function originAllowed(url: URL, self: string, extra: { [origin: string]: string }): boolean {
  if (!/^https?:$/.test(url.protocol) || url.username || url.password) return false;
  const o = url.origin;
  return o === self || extra[o] != null;
}

/**
 * glob compiles a path pattern: "*" matches within one path segment, "**"
 * matches across segments, everything else is literal. The whole path must
 * match ("/api/**" covers everything under /api/).
 */
export function glob(p: string): RegExp {
  return new RegExp("^" + p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*\*?/g, (m) => (m[1] ? ".*" : "[^/]*")) + "$");
}

/** methodAllowed: case-insensitive membership, "*" allows every method. */
export function methodAllowed(method: string, methods: string[]): boolean {
  return methods.indexOf("*") >= 0 || methods.indexOf(method.toUpperCase()) >= 0;
}

/** pathAllowed: included (or no include list) and not excluded. */
export function pathAllowed(path: string, r: Rules): boolean {
  const hit = (l: RegExp[]) => l.some((re) => re.test(path));
  return (!r.include.length || hit(r.include)) && !hit(r.exclude);
}

/** Dash renderer endpoints ("…/_dash-layout", "…/_dash-update-component"). */
export const dashPath = /\/_dash-[^/]*$/;

/**
 * shouldDecorate resolves url against base (the document's base URL, which
 * is where the browser sends a relative URL) and applies all rules. self is
 * the page's own origin, location.origin: never derived from base, so a
 * <base href="https://elsewhere/"> cannot make elsewhere "the page's own
 * origin". tokenhook's own routes (everything under r.base) are never decorated. When
 * dash is true, Dash renderer endpoints are decorated whatever their method
 * (its layout/dependencies GETs must carry the token too).
 */
export function shouldDecorate(method: string, url: string, base: string, self: string, r: Rules, dash?: boolean): boolean {
  let u: URL;
  try {
    u = new URL(url, base);
  } catch (e) {
    return false;
  }
  if (!originAllowed(u, self, r.origins) || !u.href.indexOf(new URL(r.base, self).href)) return false;
  if (!pathAllowed(u.pathname, r)) return false;
  return methodAllowed(method, r.methods) || (!!dash && dashPath.test(u.pathname));
}
