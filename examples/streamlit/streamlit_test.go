// Package streamlit_test runs the Streamlit example (app.py, real Streamlit)
// behind a real tokenhook and drives it in real Chromium: the verified
// viewer, a click that round-trips over the WebSocket, get_user_token in the
// script, and the page reconnecting after tokenhook restarts.
package streamlit_test

import (
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestStreamlitApp(t *testing.T) {
	e, tab, _ := exampletest.RunApp(t, browser, exampletest.App{
		Modules: []string{"streamlit"}, Health: "/_stcore/health", SignIn: "/",
		Env: []string{"HOME=" + t.TempDir()},
		Args: []string{"-m", "streamlit", "run", "app.py", "--server.address", "$HOST", "--server.port", "$PORT",
			"--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"},
	})
	e.CheckSignedInApp(t, tab, "screenshot.png")
	e.CheckReconnect(t, tab)
}
