// The one base64url encoder of the script (sign-in channels and challenges,
// the X-TokenHook-Stale hash, DPoP proofs and thumbprints) and the one
// SHA-256 hash written with it.

/** b64u is the unpadded base64url (RFC 4648 §5) of bytes. */
export function b64u(bytes: ArrayBuffer | Uint8Array): string {
  return btoa(String.fromCharCode.apply(null, new Uint8Array(bytes) as any)).replace(/[+/=]/g, (c) => (c === "+" ? "-" : c === "/" ? "_" : ""));
}

/** sha256u is the unpadded base64url of the SHA-256 of s (UTF-8); it needs crypto.subtle. */
export async function sha256u(s: string): Promise<string> {
  return b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
}
