// Package e2e holds tokenhook's end-to-end tests: a real headless Chromium
// (package browsertest) loads pages from a test backend that shares its origin
// with a real tokenhook server, which signs in at a real in-process Dex (both
// run by package internal/stacktest). The tests assert on what the backend
// received: which requests carried the bearer token, with which body, and how
// often the browser hook went back to the token endpoint. The Plotly Dash
// tests run the real dash-renderer from the npm fixture in testdata/dash (run
// `make npm`).
//
// The package has no code of its own; everything is in its _test.go files.
package e2e
