// Package dash_test runs the Dash example (app.py, real Dash with the Flask
// backend and the tokenhook plugin) behind a real tokenhook, signs in with
// real Chromium at the real provider, and checks what the viewer sees.
package dash_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// tokenTTL is the provider's access token lifetime: short, so the test can
// click again after the page's token expired.
const tokenTTL = 8 * time.Second

func TestDashApp(t *testing.T) {
	// The plugin is switched on by the one setting, nothing in app.py.
	e, tab, _ := exampletest.RunApp(t, browser, exampletest.App{
		Modules: []string{"dash", "flask"}, Options: exampletest.Options{Connection: true, TokenTTL: tokenTTL},
		Health: "/healthz", SignIn: "/", Env: []string{"TOKENHOOK_DASH=1"},
	})

	t.Run("the page shows the verified viewer", func(t *testing.T) {
		exampletest.WaitText(t, tab, "viewer", e.Email)
	})
	var asked time.Time
	t.Run("a callback gets the bearer and an API accepts it", func(t *testing.T) {
		exampletest.Click(t, tab, "ask")
		exampletest.WaitText(t, tab, "answer", "Request 1: the provider says you are "+e.Email)
		asked = time.Now()
		if n := browsertest.Eval[int](tab, `window.appRequests || 0`); n == 0 {
			t.Error("the app's own request_post hook never ran: the plugin replaced it")
		}
	})
	t.Run("get_user_token before linking raises ConnectionRequired", func(t *testing.T) {
		exampletest.Click(t, tab, "load")
		exampletest.WaitText(t, tab, "connect", "Connect your data account first")
		href := browsertest.Eval[string](tab, `document.getElementById("connect").href`)
		if want := e.URL + "/_tokenhook/connect/" + exampletest.Connection; href != want {
			t.Errorf("connect link %q, want %q", href, want)
		}
	})
	t.Run("get_user_token after linking returns the connection's token", func(t *testing.T) {
		e.ConnectTab(tab, exampletest.Connection, "/")
		exampletest.WaitText(t, tab, "viewer", e.Email)
		exampletest.Click(t, tab, "load")
		exampletest.WaitText(t, tab, "data", "the data platform knows you as "+e.Email+" (token for "+exampletest.ConnectionClientID+")")
		exampletest.Screenshot(t, tab, "screenshot.png")
	})
	t.Run("the next click after the token expired works without a reload", func(t *testing.T) {
		if asked.IsZero() {
			t.Skip("the first click failed")
		}
		// Keep the page's main thread busy past the token's lifetime (a laptop
		// waking up: no timer could refresh it), then click at once.
		browsertest.Eval[bool](tab, fmt.Sprintf(`(function () {
			window.noReload = true;
			var until = Date.now() + %d;
			while (Date.now() < until) {}
			document.getElementById("ask").click();
			return true;
		})()`, (tokenTTL+time.Second).Milliseconds()))
		exampletest.WaitText(t, tab, "answer", "Request 1: the provider says you are "+e.Email)
		if !browsertest.Eval[bool](tab, `window.noReload === true`) {
			t.Error("the page reloaded")
		}
	})
}
