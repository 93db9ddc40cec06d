// Every error the script reports is a TokenHookError (tokenhook.ts).
import { TokenHookError } from "./tokenhook";

/**
 * asError returns e when it is a TokenHookError, else a "network" error
 * carrying e's message (a failed fetch's TypeError, a token function's
 * exception).
 */
export function asError(e: unknown): TokenHookError {
  return e instanceof TokenHookError ? e : new TokenHookError("network", "" + ((e && (e as Error).message) || e));
}
