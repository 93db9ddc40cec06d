import { test } from "node:test";
import assert from "node:assert/strict";
import { glob, methodAllowed, normalizeOrigin, originAllowed, pathAllowed, Rules, shouldDecorate } from "../src/match";

const page = "https://app.example.com/dash/index.html?x=1";

function rules(r: Partial<Rules> = {}): Rules {
  return { methods: ["POST"], include: [], exclude: [], origins: {}, base: "/_tokenhook/", ...r };
}

test("originAllowed compares exact origins", () => {
  const extra = { "https://api.example.com": "" };
  const cases: [string, boolean][] = [
    ["https://app.example.com/x", true],
    ["https://APP.example.COM:443/x", true],
    ["https://app.example.com:8443/x", false],
    ["http://app.example.com/x", false],
    ["https://api.example.com/v1", true],
    ["https://api.example.com.evil.net/v1", false],
    ["https://evil.net/https://api.example.com", false],
    ["https://api.example.com@evil.net/x", false],
    ["https://user:pw@api.example.com/x", false],
    ["https://evil.net?https://api.example.com", false],
    ["https://app.example.com.evil.net/", false],
    ["https://sub.app.example.com/", false],
    ["wss://app.example.com/", false],
    ["javascript:alert(1)", false],
  ];
  for (const [u, want] of cases) {
    assert.equal(originAllowed(new URL(u, page), "https://app.example.com", extra), want, u);
  }
});

test("normalizeOrigin accepts only bare http(s) origins", () => {
  const cases: [string, string][] = [
    ["https://api.example.com", "https://api.example.com"],
    ["https://API.Example.com:443/", "https://api.example.com"],
    ["http://127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["https://api.example.com/path", ""],
    ["https://api.example.com?q", ""],
    ["https://api.example.com#f", ""],
    ["https://u@api.example.com", ""],
    ["https://*.example.com", ""],
    ["*", ""],
    ["api.example.com", ""],
    ["ftp://api.example.com", ""],
    ["https://a b.example", ""],
    ["", ""],
  ];
  for (const [in_, want] of cases) assert.equal(normalizeOrigin(in_), want, in_);
});

test("glob patterns", () => {
  const cases: [string, string, boolean][] = [
    ["/api/**", "/api/a/b", true],
    ["/api/**", "/api/", true],
    ["/api/**", "/apix/a", false],
    ["/api/*", "/api/a", true],
    ["/api/*", "/api/a/b", false],
    ["/a.b", "/a.b", true],
    ["/a.b", "/axb", false],
    ["/x/*/y", "/x/1/y", true],
    ["/x/*/y", "/x/1/2/y", false],
    ["/(a|b)", "/(a|b)", true],
    ["/(a|b)", "/a", false],
    ["**/_dash-update-component", "/app/_dash-update-component", true],
  ];
  for (const [p, path, want] of cases) assert.equal(glob(p).test(path), want, p + " " + path);
});

test("pathAllowed applies include then exclude", () => {
  const r = rules({ include: [glob("/api/**")], exclude: [glob("/api/public/**")] });
  assert.equal(pathAllowed("/api/data", r), true);
  assert.equal(pathAllowed("/api/public/x", r), false);
  assert.equal(pathAllowed("/other", r), false);
  assert.equal(pathAllowed("/anything", rules()), true);
});

test("methodAllowed", () => {
  assert.equal(methodAllowed("post", ["POST"]), true);
  assert.equal(methodAllowed("GET", ["POST"]), false);
  assert.equal(methodAllowed("DELETE", ["*"]), true);
  assert.equal(methodAllowed("PUT", ["POST", "PUT"]), true);
});

test("shouldDecorate", () => {
  const cases: { name: string; method: string; url: string; r?: Partial<Rules>; dash?: boolean; want: boolean }[] = [
    { name: "same-origin POST, relative", method: "POST", url: "api/x", want: true },
    { name: "GET by default", method: "GET", url: "/api/x", want: false },
    { name: "GET with *", method: "GET", url: "/api/x", r: { methods: ["*"] }, want: true },
    { name: "other origin", method: "POST", url: "https://other.example.com/x", want: false },
    { name: "allowed extra origin", method: "POST", url: "https://api.example.com/x", r: { origins: { "https://api.example.com": "" } }, want: true },
    { name: "lookalike origin", method: "POST", url: "https://api.example.com.evil.net/x", r: { origins: { "https://api.example.com": "" } }, want: false },
    { name: "other port", method: "POST", url: "https://app.example.com:444/x", want: false },
    { name: "own endpoints", method: "POST", url: "/_tokenhook/logout", r: { methods: ["*"] }, want: false },
    { name: "own endpoints under another base", method: "POST", url: "/auth/th/token", r: { methods: ["*"], base: "/auth/th/" }, want: false },
    { name: "another base: /_tokenhook/ is the app's", method: "POST", url: "/_tokenhook/x", r: { base: "/auth/th/" }, want: true },
    { name: "absolute base", method: "POST", url: "https://app.example.com/auth/th/claim", r: { base: "https://app.example.com/auth/th/" }, want: false },
    { name: "base elsewhere: same path here is the app's", method: "POST", url: "/auth/th/x", r: { base: "https://api.example.com/auth/th/", origins: { "https://api.example.com": "" } }, want: true },
    { name: "base elsewhere: excluded there", method: "POST", url: "https://api.example.com/auth/th/x", r: { base: "https://api.example.com/auth/th/", origins: { "https://api.example.com": "" } }, want: false },
    { name: "a path that only starts like the base", method: "POST", url: "/_tokenhookx/y", want: true },
    { name: "dash GET", method: "GET", url: "/_dash-layout", dash: true, want: true },
    { name: "dash GET, dash off", method: "GET", url: "/_dash-layout", want: false },
    { name: "dash GET, other origin", method: "GET", url: "https://other.example.com/_dash-layout", dash: true, want: false },
    { name: "excluded", method: "POST", url: "/login", r: { exclude: [glob("/login")] }, want: false },
    { name: "unparsable", method: "POST", url: "http://[::1", want: false },
  ];
  for (const c of cases) assert.equal(shouldDecorate(c.method, c.url, page, "https://app.example.com", rules(c.r), c.dash), c.want, c.name);
});

test("shouldDecorate: the page's own origin is self, never the <base> URL's", () => {
  // A page at https://app.example.com with <base href="https://elsewhere.example/">.
  const base = "https://elsewhere.example/";
  const self = "https://app.example.com";
  const cases: { name: string; url: string; want: boolean }[] = [
    { name: "relative, resolved to elsewhere", url: "api/x", want: false },
    { name: "root-relative, resolved to elsewhere", url: "/api/x", want: false },
    { name: "absolute to elsewhere", url: "https://elsewhere.example/api/x", want: false },
    { name: "absolute to the page's own origin", url: "https://app.example.com/api/x", want: true },
  ];
  for (const c of cases) assert.equal(shouldDecorate("POST", c.url, base, self, rules()), c.want, c.name);
});
