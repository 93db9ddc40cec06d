// Package streamlit_test runs the Streamlit example (app.py, real Streamlit)
// behind a real tokenhook and drives it in real Chromium: the verified
// viewer, a click that round-trips over the WebSocket, get_user_token in the
// script, and the page reconnecting after tokenhook restarts.
package streamlit_test

import (
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/browsertest"
)

var browser = browsertest.Shared{Options: browsertest.Options{Timeout: 3 * time.Minute}}

func TestMain(m *testing.M) { browser.Main(m) }

func TestStreamlitApp(t *testing.T) {
	py := exampletest.VenvPython(t, "streamlit")
	e := exampletest.New(t)
	e.StartPython(py, "/_stcore/health", []string{"OIDC_ISSUER=" + e.Issuer, "HOME=" + t.TempDir()}, func(host, port string) []string {
		return []string{"-m", "streamlit", "run", "app.py", "--server.address", host, "--server.port", port,
			"--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"}
	})
	tab := browser.Tab(t)
	e.SignInTab(tab, "/")
	e.CheckSignedInApp(t, tab, "screenshot.png")
	e.CheckReconnect(t, tab)
}
