import { test } from "node:test";
import assert from "node:assert/strict";
import { cookie, fromResult, parse, readStored } from "../src/config";
import "./defines";

test("defaults", () => {
  const c = parse({});
  assert.deepEqual(c.methods, ["POST"]);
  assert.deepEqual(c.origins, {});
  assert.equal(c.header, "Authorization");
  assert.equal(c.scheme, "Bearer");
  assert.equal(c.source, "server");
  assert.equal(c.overwrite, false);
  assert.equal(c.base, "/_tokenhook/");
  assert.equal(c.include.length + c.exclude.length, 0);
  assert.deepEqual(c.errors, []);
});

test("data attributes", () => {
  const c = parse({
    methods: "post, put",
    include: "/api/** /data/*",
    exclude: "/api/public/**",
    origins: "https://a.example https://B.example:8443/",
    header: "X-Token",
    scheme: "",
    source: "localStorage:auth",
    overwrite: "",
  });
  assert.deepEqual(c.methods, ["POST", "PUT"]);
  assert.equal(c.include.length, 2);
  assert.ok(c.include[0].test("/api/x/y"));
  assert.ok(c.exclude[0].test("/api/public/z"));
  assert.deepEqual(c.origins, { "https://a.example": "", "https://b.example:8443": "" });
  assert.equal(c.header, "X-Token");
  assert.equal(c.scheme, "");
  assert.equal(c.source, "localStorage");
  assert.equal(c.key, "auth");
  assert.equal(c.overwrite, true, "a bare data-overwrite attribute means true");
});

test("TokenHookConfig wins over attributes", () => {
  const fn = async () => "t";
  const c = parse({ methods: "POST", source: "cookie:jwt", overwrite: "true" }, { methods: ["*"], overwrite: false, token: fn });
  assert.deepEqual(c.methods, ["*"]);
  assert.equal(c.overwrite, false);
  assert.equal(c.source, "custom");
  assert.equal(c.opts.token, fn);
});

test("bad values fall back to safe defaults", () => {
  const c = parse({ origins: "* https://ok.example https://evil.example/path", header: "Bad Header:", source: "remote:x" });
  assert.deepEqual(c.origins, { "https://ok.example": "" });
  assert.equal(c.header, "Authorization");
  assert.equal(c.source, "server");
  assert.equal(c.errors.length, 4, c.errors.join("; "));
});

test("overwrite values", () => {
  const cases: [string | boolean | undefined, boolean][] = [
    [undefined, false], ["", true], ["true", true], ["1", true], [true, true], ["false", false], [false, false], ["0", false],
  ];
  for (const [v, want] of cases) assert.equal(parse({}, { overwrite: v }).overwrite, want, String(v));
});

test("readStored", () => {
  assert.deepEqual(readStored(null), { token: null });
  assert.deepEqual(readStored(""), { token: null });
  assert.deepEqual(readStored("eyJ.abc.def"), { token: "eyJ.abc.def" });
  assert.deepEqual(readStored('"quoted"'), { token: "quoted" });
  assert.deepEqual(readStored('{"access_token":"a","expires_at":10}'), { token: "a", exp: 10000 });
  assert.deepEqual(readStored("12345"), { token: "12345" });
  assert.deepEqual(readStored('{"nothing":1}'), { token: null, exp: undefined });
});

test("fromResult", () => {
  assert.deepEqual(fromResult("t"), { token: "t" });
  assert.deepEqual(fromResult(null), { token: null });
  assert.deepEqual(fromResult({ access_token: "t" }), { token: "t", exp: undefined });
});

test("cookie", () => {
  const all = "a=1; jwt=eyJ%2Bx; jwt2=no; b=2";
  assert.equal(cookie(all, "jwt"), "eyJ+x");
  assert.equal(cookie(all, "b"), "2");
  assert.equal(cookie(all, "zz"), null);
  assert.equal(cookie("x=%E0%A4%A", "x"), "%E0%A4%A");
  assert.equal(cookie("", "x"), null);
});

test("connection rules: exact origins, normalised; bad rules refused", () => {
  const c = parse(
    { connections: "https://API.data.example/=data https://sql.example:8443=warehouse https://x.example= https://a.example/path=p nohost=q https://y.example=a=b" },
    null,
  );
  assert.deepEqual(c.origins, { "https://api.data.example": "data", "https://sql.example:8443": "warehouse" });
  assert.equal(c.errors.length, 4, c.errors.join("; "));
  const o = parse({ origins: "https://api.data.example https://b.example" }, { connections: { "https://api.data.example:443": "data" } });
  assert.deepEqual(o.origins, { "https://api.data.example": "data", "https://b.example": "" }, "a connection rule wins over a plain origin");
});
