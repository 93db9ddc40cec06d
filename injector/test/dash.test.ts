import { test } from "node:test";
import assert from "node:assert/strict";
import { hooks, DashWindow } from "../src/dash";
import { manager, Source } from "../src/tokens";
import { FakeClock, flush } from "./util";

function setup() {
  const clock = new FakeClock();
  const calls: (string | undefined)[] = [];
  const src: Source = async (r) => {
    calls.push(r);
    return { token: "tok" + calls.length, exp: clock.now() + 3600_000 };
  };
  const subs: ((t: string) => void)[] = [];
  const tokens = manager(src, true, clock, (t) => subs.forEach((f) => f(t)), () => {});
  const actions: unknown[] = [];
  const win: DashWindow = {};
  const h = hooks(tokens, { header: "Authorization", scheme: "Bearer" }, win, clock, () => {}, (f) => subs.push(f));
  const mount = () => (win.dash_stores = [{ dispatch: (a: unknown) => actions.push(a) }]);
  return { h, clock, calls, actions, mount, tokens };
}

test("every hook key is defined", () => {
  const { h } = setup();
  for (const k of ["request_pre", "request_post", "request_refresh_jwt"] as const) assert.equal(typeof h[k], "function", k);
});

test("the store is seeded once it exists, and again after each new token", async () => {
  const { h, clock, actions, mount, tokens } = setup();
  await flush();
  clock.advance(200);
  assert.equal(actions.length, 0, "no store yet");
  mount();
  clock.advance(50);
  await flush();
  assert.deepEqual(actions, [{ type: "ADD_HTTP_HEADERS", payload: { Authorization: "Bearer tok1" } }]);
  h.request_pre({});
  await flush();
  assert.equal(actions.length, 1, "seeded once");
  await tokens.refresh("tok1");
  assert.deepEqual(actions[1], { type: "ADD_HTTP_HEADERS", payload: { Authorization: "Bearer tok2" } });
});

test("request_pre seeds when polling gave up", async () => {
  const { h, clock, actions, mount } = setup();
  for (let i = 0; i < 700; i++) {
    clock.advance(50);
    await flush();
  }
  assert.equal(clock.timers.filter((t) => t.at - clock.now() <= 50).length, 0, "polling stopped");
  mount();
  h.request_pre({});
  await flush();
  assert.equal(actions.length, 1);
});

test("request_refresh_jwt hands over the current token and never forces a refresh", async () => {
  // The fetch wrapper already refreshed and replayed the renderer's request:
  // a 401 the renderer still sees is the resource saying no.
  const { h, calls, actions, mount } = setup();
  mount();
  await flush();
  assert.equal(await h.request_refresh_jwt("tok1"), "tok1");
  assert.equal(await h.request_refresh_jwt("tok1"), "tok1");
  assert.deepEqual(calls, [undefined], "one token fetch: the first");
  assert.deepEqual(actions[actions.length - 1], { type: "ADD_HTTP_HEADERS", payload: { Authorization: "Bearer tok1" } });
});
