// Header merging and the "is this header ours?" decision.

/**
 * merge builds the headers a request will really carry: the Request's own
 * headers first, then init.headers on top. (fetch(request, {headers}) would
 * otherwise drop every header of the Request.) Each argument may be a Headers
 * object, an array of pairs or a record.
 */
export function merge(base?: HeadersInit | null, extra?: HeadersInit | null): Headers {
  const h = new Headers(base || undefined);
  if (extra) new Headers(extra).forEach((v, k) => h.set(k, v));
  return h;
}

/**
 * appOwned reports whether an existing header value was set by the app
 * itself, as opposed to one this script produced (issued: any token it handed
 * out recently). Our own values are refreshed in place, so the fetch wrapper
 * and the Dash renderer's stored copy of the header never fight: the
 * renderer's copy is replaced only when it carries an older token of ours,
 * and a value the app set itself is kept unless overwrite is on.
 */
export function appOwned(existing: string | null, issued: (v: string) => boolean): boolean {
  return existing != null && !issued(existing);
}

/** headerValue renders "<scheme> <token>", or the bare token for an empty scheme. */
export function headerValue(scheme: string, token: string): string {
  return scheme ? scheme + " " + token : token;
}

/**
 * staleAnswer reports whether a 401 says the token itself was rejected:
 * `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750) or a body
 * containing "JWT Expired" (the Dash convention).
 */
export function staleAnswer(status: number, wwwAuth: string | null, body: string): boolean {
  return status === 401 && (/^\s*bearer\b.*error\s*=\s*"?invalid_token/i.test(wwwAuth || "") || body.indexOf("JWT Expired") >= 0);
}
