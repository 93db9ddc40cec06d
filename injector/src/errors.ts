// The one error type of the script: every error it reports (the "error"
// event) is a TokenHookError, with a code an app can switch on.

/**
 * What went wrong:
 * - "login_required": the viewer is not signed in (the token endpoint said so);
 * - "connection_required": the viewer has not linked the connection named in
 *   connection (connectUrl is the route that links it);
 * - "http": tokenhook answered with an unexpected HTTP status (status);
 * - "network": no usable answer: the request failed, or a part the script
 *   needs could not be had (a lazy chunk, the page's own token function,
 *   WebCrypto); the message says which.
 */
export type TokenHookErrorCode = "login_required" | "connection_required" | "http" | "network";

/**
 * TokenHookError is what TokenHook.on("error", fn) hands to fn. The class is
 * window.TokenHook.TokenHookError, so `e instanceof TokenHook.TokenHookError`
 * works.
 */
export class TokenHookError extends Error {
  /** What went wrong (see TokenHookErrorCode). */
  declare code: TokenHookErrorCode;
  /** The HTTP status of the answer, when there was one. */
  declare status?: number;
  /** The connection whose token was asked for (absent for the sign-in token). */
  declare connection?: string;
  /** connection_required: the route that links the connection (TokenHook.connect opens it). */
  declare connectUrl?: string;

  constructor(code: TokenHookErrorCode, message: string, status?: number, connection?: string, connectUrl?: string) {
    super(message);
    this.name = "TokenHookError";
    this.code = code;
    this.status = status;
    this.connection = connection;
    this.connectUrl = connectUrl;
  }
}

/**
 * asError returns e when it is a TokenHookError, else a "network" error
 * carrying e's message (a failed fetch's TypeError, a token function's
 * exception).
 */
export function asError(e: unknown): TokenHookError {
  return e instanceof TokenHookError ? e : new TokenHookError("network", "" + ((e && (e as Error).message) || e));
}
