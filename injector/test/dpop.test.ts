import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { DpopKey, htu, loadKey, proof, thumbprint, wireMethod } from "../src/dpop";

function decode(part: string): any {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/** Checks a proof's signature with the jwk in its own header; returns header and claims. */
async function verified(jwt: string): Promise<{ header: any; claims: any }> {
  const [h, c, s] = jwt.split(".");
  const header = decode(h);
  const pub = await webcrypto.subtle.importKey("jwk", header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ok = await webcrypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, Buffer.from(s, "base64url"), new TextEncoder().encode(h + "." + c));
  assert.ok(ok, "signature verifies with the header's jwk");
  return { header, claims: decode(c) };
}

let shared: Promise<DpopKey> | undefined;
const key = () => (shared = shared || loadKey(null));

test("loadKey without IndexedDB makes a non-extractable P-256 key in memory", async () => {
  const k = await key();
  assert.equal(k.pair.privateKey.extractable, false);
  assert.equal((k.pair.privateKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");
  await assert.rejects(crypto.subtle.exportKey("jwk", k.pair.privateKey));
  await assert.rejects(crypto.subtle.exportKey("pkcs8", k.pair.privateKey));
  assert.deepEqual(Object.keys(k.jwk).sort(), ["crv", "kty", "x", "y"]);
  const other = await loadKey(null);
  assert.notEqual(other.jkt, k.jkt, "each memory key is new");
});

test("loadKey falls back to memory when IndexedDB fails", async () => {
  const broken = {
    open() {
      throw new Error("SecurityError");
    },
  } as unknown as IDBFactory;
  const k = await loadKey(broken);
  assert.equal(k.pair.privateKey.extractable, false);
});

test("thumbprint is RFC 7638: SHA-256 of the required members in order", async () => {
  const k = await key();
  const canon = `{"crv":"P-256","kty":"EC","x":"${k.jwk.x}","y":"${k.jwk.y}"}`;
  assert.equal(k.jkt, createHash("sha256").update(canon).digest("base64url"));
  assert.equal(await thumbprint({ y: k.jwk.y, x: k.jwk.x, kty: "EC", crv: "P-256" } as any), k.jkt);
});

test("proof is a signed dpop+jwt with htm, htu, iat, jti, ath and nonce", async () => {
  const k = await key();
  const now = 1_700_000_000_900;
  const jwt = await proof(k, "post", "https://App.Example.com:443/api/data?q=1#frag", "tok.en", "n-1", now);
  const { header, claims } = await verified(jwt);
  assert.deepEqual(header, { typ: "dpop+jwt", alg: "ES256", jwk: k.jwk });
  assert.equal(claims.htm, "POST");
  assert.equal(claims.htu, "https://app.example.com/api/data");
  assert.equal(claims.iat, 1_700_000_000);
  assert.equal(claims.ath, createHash("sha256").update("tok.en").digest("base64url"));
  assert.equal(claims.nonce, "n-1");
  assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
  const again = (await verified(await proof(k, "GET", "https://app.example.com/"))).claims;
  assert.notEqual(again.jti, claims.jti);
  assert.equal(again.ath, undefined);
  assert.equal(again.nonce, undefined);
  assert.ok(Math.abs(again.iat - Date.now() / 1000) < 5);
});

test("htu drops userinfo, query and fragment and resolves against a base", () => {
  const cases: [string, string | undefined, string][] = [
    ["https://u:p@h.example:8443/a/b?c#d", undefined, "https://h.example:8443/a/b"],
    ["http://H.example:80", undefined, "http://h.example/"],
    ["/x?y", "https://app.example.com/dash/", "https://app.example.com/x"],
    ["y", "https://app.example.com/dash/", "https://app.example.com/dash/y"],
  ];
  for (const [u, base, want] of cases) assert.equal(htu(u, base), want, u);
});

test("wireMethod matches what fetch sends", () => {
  const cases: [string, string][] = [
    ["get", "GET"],
    ["Post", "POST"],
    ["delete", "DELETE"],
    ["patch", "patch"],
    ["PATCH", "PATCH"],
    ["PROPFIND", "PROPFIND"],
  ];
  for (const [m, want] of cases) assert.equal(wireMethod(m), want, m);
});
