// Compile-time check that the shipped declarations (tokenhook.d.ts) match
// the implementation: tsc fails if they drift apart.
import { install, API } from "../src/index";
import { UserConfig } from "../src/config";
import { DashHooks } from "../src/dash";

export function check(w: Window): void {
  const api: TokenHookAPI = install(w, null) as API & TokenHookAPI;
  const impl: API = w.TokenHook;
  const hooks: TokenHookDashHooks = impl.dash();
  const back: DashHooks = api.dash();
  const cfg: UserConfig = w.TokenHookConfig || {};
  const decl: TokenHookConfig = cfg;
  void [hooks, back, decl];
}
