// Package injector holds the TypeScript source of tokenhook's browser hook,
// the script that adds "Authorization: Bearer <token>" to a page's matching
// fetch and XMLHttpRequest calls, fetches and refreshes the viewer's token
// from the tokenhook server, and offers window.TokenHook (see src/tokenhook.ts, and tokenhook.d.ts generated from it).
//
// The sources are embedded so the server can bundle them at start-up
// (package jsbundle) without node or a build step; their unit tests run with
// node's test runner (npm test in this directory).
package injector

import "embed"

// Sources holds the TypeScript sources under "src/"; the entry point is
// "src/index.ts" and imports are relative, extensionless ("./match").
//
//go:embed src
var Sources embed.FS
