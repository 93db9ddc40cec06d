// Plotly Dash renderer hooks: new DashRenderer(TokenHook.dash()).
//
// How this cooperates with the fetch wrapper: the wrapper is installed before
// the renderer, so the renderer's very first calls (_dash-layout and
// _dash-dependencies, GETs, decorated because dash() switches on "Dash
// endpoints for every method") already carry the token. Once the renderer's
// redux store exists we seed its own header copy with ADD_HTTP_HEADERS and
// push every new token the same way. The wrapper leaves a header carrying
// our current token alone and replaces one carrying an older token of ours,
// so a request that races a refresh still goes out with the fresh token; a
// value the app put there itself is never touched (without overwrite).
// A JWT-Expired 401 to a request the wrapper decorated is refreshed and
// replayed by the wrapper; if the renderer still sees one, the resource
// refused a fresh token (or was refused lately: replay.ts), so
// request_refresh_jwt hands over the current token and never forces
// another refresh: a callback the app refuses costs the provider nothing.
import { headerValue } from "./headers";
import type { TokenHookDashHooks } from "./tokenhook";
import { Clock, Manager } from "./tokens";

/** The renderer hooks; every key is defined (the renderer checks !== null). */
export type DashHooks = TokenHookDashHooks;

/** The part of window the hooks look at. */
export interface DashWindow {
  dash_stores?: { dispatch(action: unknown): unknown }[];
}

/**
 * hooks builds the renderer hooks; c's header and scheme are read at each
 * push (--browser-token none switches them once the server says so). subscribe registers a listener for new
 * tokens. The store is looked for every 50 ms for 30 s after the first call,
 * and again on every request_pre.
 */
export function hooks(
  tokens: Manager,
  c: { header: string; scheme: string },
  win: DashWindow,
  clock: Clock,
  fail: (e: unknown) => void,
  subscribe: (fn: (t: string) => void) => void,
): DashHooks {
  let seeded = false;
  let polling = false;

  function push(t: string | null): boolean {
    const s = win.dash_stores && win.dash_stores[0];
    if (!s || !t) return false;
    const payload: Record<string, string> = {};
    payload[c.header] = headerValue(c.scheme, t);
    s.dispatch({ type: "ADD_HTTP_HEADERS", payload });
    return (seeded = true);
  }

  function seed(tries: number) {
    if (seeded || polling) return;
    polling = true;
    tokens.get().then(
      (t) => {
        polling = false;
        if (!push(t) && t && tries > 0) clock.set(() => seed(tries - 1), 50);
      },
      (e) => {
        polling = false;
        fail(e);
      },
    );
  }

  subscribe((t) => {
    if (seeded) push(t);
  });
  seed(600);

  return {
    request_pre: () => seed(0),
    request_post: () => undefined,
    request_refresh_jwt: () =>
      tokens.get().then(
        (t) => (push(t), t),
        (e) => (fail(e), null),
      ),
  };
}
