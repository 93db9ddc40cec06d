// Package panel_test runs the Panel example (app.py, real Panel) behind a
// real tokenhook and drives it in real Chromium: the verified viewer, a click
// that round-trips over the WebSocket, get_user_token in a callback, and the
// page reconnecting after tokenhook restarts.
package panel_test

import (
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestPanelApp(t *testing.T) {
	e, tab, _ := exampletest.RunApp(t, browser, exampletest.App{
		Modules: []string{"panel"}, Health: "/app", SignIn: "/app",
		Args: []string{"-m", "panel", "serve", "app.py", "--address", "$HOST", "--port", "$PORT",
			"--allow-websocket-origin", "$PUBLIC_HOST"},
	})
	e.CheckSignedInApp(t, tab, "screenshot.png")
	e.CheckReconnect(t, tab)
}
