import { test } from "node:test";
import assert from "node:assert/strict";
import { b64u } from "../src/b64";

test("b64u is unpadded base64url, the same as node's", () => {
  const cases: number[][] = [[], [1], [0xfb, 0xff], [0xfb, 0xff, 0xfe], Array.from({ length: 64 }, (_, i) => (i * 37) & 255)];
  for (const c of cases) {
    const want = Buffer.from(c).toString("base64url");
    assert.equal(b64u(new Uint8Array(c)), want, JSON.stringify(c));
    assert.equal(b64u(new Uint8Array(c).buffer), want, "ArrayBuffer " + JSON.stringify(c));
  }
});
