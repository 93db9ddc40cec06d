// The one base64url encoder of the script (sign-in channels and challenges,
// the X-TokenHook-Stale hash, DPoP proofs and thumbprints).

/** b64u is the unpadded base64url (RFC 4648 §5) of bytes. */
export function b64u(bytes: ArrayBuffer | Uint8Array): string {
  return btoa(String.fromCharCode.apply(null, new Uint8Array(bytes) as any)).replace(/[+/=]/g, (c) => (c === "+" ? "-" : c === "/" ? "_" : ""));
}
