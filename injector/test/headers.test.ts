import { test } from "node:test";
import assert from "node:assert/strict";
import { appOwned, headerValue, merge, staleAnswer } from "../src/headers";

test("merge accepts every header form and keeps the Request's headers", () => {
  const req = new Request("https://a.example/", { headers: { "X-From-Request": "1", "X-Both": "request" } });
  const forms: [string, HeadersInit][] = [
    ["Headers", new Headers({ "X-Init": "2", "X-Both": "init" })],
    ["array", [["X-Init", "2"], ["X-Both", "init"]]],
    ["record", { "X-Init": "2", "X-Both": "init" }],
  ];
  for (const [name, init] of forms) {
    const h = merge(req.headers, init);
    assert.equal(h.get("x-from-request"), "1", name);
    assert.equal(h.get("x-init"), "2", name);
    assert.equal(h.get("x-both"), "init", name + ": init wins");
  }
  assert.equal(merge(null, undefined).get("x"), null);
  assert.equal(merge(undefined, [["A", "1"]]).get("a"), "1");
});

test("appOwned tells the app's own value from ours", () => {
  const issued = (v: string) => v === "Bearer old" || v === "Bearer cur";
  assert.equal(appOwned(null, issued), false);
  assert.equal(appOwned("Bearer old", issued), false);
  assert.equal(appOwned("Bearer cur", issued), false);
  assert.equal(appOwned("Bearer apps-own", issued), true);
  assert.equal(appOwned("Basic dXNlcg==", issued), true);
});

test("headerValue", () => {
  assert.equal(headerValue("Bearer", "t"), "Bearer t");
  assert.equal(headerValue("", "t"), "t");
});

test("staleAnswer", () => {
  const cases: [number, string | null, string, boolean][] = [
    [401, 'Bearer error="invalid_token", error_description="expired"', "", true],
    [401, 'Bearer realm="x", error="invalid_token"', "", true],
    [401, "bearer error=invalid_token", "", true],
    [401, 'Bearer realm="x"', "", false],
    [401, 'Bearer error="insufficient_scope"', "", false],
    [401, null, '{"message":"JWT Expired"}', true],
    [401, null, "nope", false],
    [403, 'Bearer error="invalid_token"', "JWT Expired", false],
    [200, null, "JWT Expired", false],
    [401, 'Basic realm="invalid_token"', "", false],
  ];
  for (const [s, w, b, want] of cases) assert.equal(staleAnswer(s, w, b), want, `${s} ${w} ${b}`);
});
