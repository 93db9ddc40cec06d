// The constants jsbundle compiles into the scripts (esbuild define), as the
// tests see them: the route prefix and the chunks' file names and SRI (the
// fake documents in index.test.ts "load" the chunk modules directly).
const g = globalThis as any;
g.__PREFIX__ = "/_tokenhook/";
g.__SESSION__ = "tokenhook-session.0000.js";
g.__SESSION_SRI__ = "sha256-test";
g.__DPOP__ = "tokenhook-dpop.0000.js";
g.__DPOP_SRI__ = "sha256-test";
