import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { accept, newChannel, popupURL, shortCode } from "../src/signin";

const b64url = /^[A-Za-z0-9_-]+$/;

test("newChannel: random channel and secret, S256 challenge of the secret", async () => {
  const a = await newChannel(webcrypto as unknown as Crypto);
  const b = await newChannel(webcrypto as unknown as Crypto);
  assert.match(a.channel, b64url);
  assert.match(a.secret, b64url);
  assert.equal(a.channel.length, 24, "18 bytes");
  assert.equal(a.secret.length, 43, "32 bytes");
  assert.equal(a.challenge.length, 43);
  assert.equal(a.challenge, createHash("sha256").update(a.secret).digest("base64url"), "challenge = base64url(sha256(secret))");
  assert.notEqual(a.channel, b.channel);
  assert.notEqual(a.secret, b.secret);
  assert.ok(!a.challenge.includes(a.secret));
  assert.equal(a.short, shortCode(createHash("sha256").update(a.secret).digest()), "short code of the challenge");
});

test("shortCode: 40 bits of the challenge, the same code the server shows", () => {
  // The server's rendezvous.ShortCode(Challenge("x")) (see its test).
  assert.equal(shortCode(createHash("sha256").update("x").digest()), "FX2T-NSXZ");
  assert.equal(shortCode(new Uint8Array(32)), "AAAA-AAAA");
  assert.equal(shortCode(new Uint8Array(32).fill(255)), "9999-9999");
});

test("popupURL carries channel and challenge, never the secret", async () => {
  const p = await newChannel(webcrypto as unknown as Crypto);
  const u = new URL(popupURL("https://dash.example/_tokenhook/", p));
  assert.equal(u.pathname, "/_tokenhook/login");
  assert.equal(u.searchParams.get("popup"), "1");
  assert.equal(u.searchParams.get("channel"), p.channel);
  assert.equal(u.searchParams.get("challenge"), p.challenge);
  assert.ok(!u.href.includes(p.secret));
});

test("accept: only our origin, our popup window, our channel, the right type; it returns the code", () => {
  const popup = { name: "popup" };
  const other = { name: "another window" };
  const origin = "https://dash.example";
  const good = { type: "tokenhook:signed-in", channel: "chan-0123456789abcdef", code: "one-time-code" };
  const cases: { name: string; ev: { origin: string; source: unknown; data: any }; popup?: unknown; want: boolean }[] = [
    { name: "the popup's note", ev: { origin, source: popup, data: good }, want: true },
    { name: "no code", ev: { origin, source: popup, data: { ...good, code: undefined } }, want: false },
    { name: "a code that is not a string", ev: { origin, source: popup, data: { ...good, code: { toString: () => "x" } } }, want: false },
    { name: "foreign origin", ev: { origin: "https://evil.example", source: popup, data: good }, want: false },
    { name: "origin prefix trick", ev: { origin: origin + ".evil.example", source: popup, data: good }, want: false },
    { name: "another window", ev: { origin, source: other, data: good }, want: false },
    { name: "no source", ev: { origin, source: null, data: good }, want: false },
    { name: "no popup (noopener): only the claim counts", ev: { origin, source: null, data: good }, popup: null, want: false },
    { name: "other channel", ev: { origin, source: popup, data: { ...good, channel: "chan-other" } }, want: false },
    { name: "other type", ev: { origin, source: popup, data: { ...good, type: "tokenhook:token" } }, want: false },
    { name: "string data", ev: { origin, source: popup, data: JSON.stringify(good) }, want: false },
    { name: "null data", ev: { origin, source: popup, data: null }, want: false },
  ];
  for (const c of cases) {
    assert.equal(accept(c.ev, origin, "popup" in c ? c.popup : popup, good.channel), c.want ? good.code : "", c.name);
  }
});
