// Package panel_test runs the Panel example (app.py, real Panel) behind a
// real tokenhook and drives it in real Chromium: the verified viewer, a click
// that round-trips over the WebSocket, get_user_token in a callback, and the
// page reconnecting after tokenhook restarts.
package panel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/browsertest"
)

var browser = browsertest.Shared{Options: browsertest.Options{Timeout: 3 * time.Minute}}

func TestMain(m *testing.M) { browser.Main(m) }

func TestPanelApp(t *testing.T) {
	py := exampletest.VenvPython(t, "panel")
	e := exampletest.New(t)
	e.StartPython(py, "/app", []string{"OIDC_ISSUER=" + e.Issuer}, func(host, port string) []string {
		return []string{"-m", "panel", "serve", "app.py", "--address", host, "--port", port,
			"--allow-websocket-origin", strings.TrimPrefix(e.URL, "http://")}
	})
	tab := browser.Tab(t)
	e.SignInTab(tab, "/app")
	e.CheckSignedInApp(t, tab, "screenshot.png")
	e.CheckReconnect(t, tab)
}
