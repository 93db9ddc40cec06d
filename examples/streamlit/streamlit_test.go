// Package streamlit_test runs the Streamlit example (app.py, real Streamlit)
// behind a real tokenhook and drives it in real Chromium: the verified
// viewer, a click that round-trips over the WebSocket, get_user_token in the
// script, and the page reconnecting after tokenhook restarts.
package streamlit_test

import (
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/server/browsertest"
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
	const asked = "the provider says you are "

	t.Run("the page shows the verified viewer", func(t *testing.T) {
		exampletest.WaitPageText(t, tab, "Signed in as "+e.Email)
	})
	t.Run("a click round-trips and get_user_token works in the script", func(t *testing.T) {
		exampletest.ClickButton(t, tab, "Ask the identity provider")
		exampletest.WaitPageText(t, tab, "Click 1: "+asked+e.Email)
		exampletest.Screenshot(t, tab, "screenshot.png")
	})
	t.Run("the page reconnects after tokenhook restarts", func(t *testing.T) {
		e.CheckReconnect(t, tab, "Ask the identity provider", "Click 1: "+asked, asked+e.Email)
	})
}
