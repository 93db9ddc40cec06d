import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { b64u, sha256u } from "../src/b64";

test("b64u is unpadded base64url, the same as node's", () => {
  const cases: number[][] = [[], [1], [0xfb, 0xff], [0xfb, 0xff, 0xfe], Array.from({ length: 64 }, (_, i) => (i * 37) & 255)];
  for (const c of cases) {
    const want = Buffer.from(c).toString("base64url");
    assert.equal(b64u(new Uint8Array(c)), want, JSON.stringify(c));
    assert.equal(b64u(new Uint8Array(c).buffer), want, "ArrayBuffer " + JSON.stringify(c));
  }
});

test("sha256u is base64url(sha256) of the UTF-8 text, the same as node's", async () => {
  for (const t of ["", "abc", "é€😀", "x".repeat(1000)]) assert.equal(await sha256u(t), createHash("sha256").update(t).digest("base64url"), t);
});
