// Package dashfastapi_test runs the Dash example with the FastAPI backend and
// WebSocket callbacks (app.py, real Dash 4.4.1 + uvicorn, the tokenhook
// plugin) behind a real tokenhook, in real Chromium.
package dashfastapi_test

import (
	"net/http"
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestDashFastAPIApp(t *testing.T) {
	e, tab, appURL := exampletest.RunApp(t, browser, exampletest.App{
		Modules: []string{"dash", "fastapi", "uvicorn"}, Health: "/healthz", SignIn: "/",
		Env: []string{"TOKENHOOK_DASH=1"},
	})

	t.Run("callbacks run over the WebSocket as the verified viewer", func(t *testing.T) {
		exampletest.WaitText(t, tab, "viewer", e.Email+" (over WebSocket)")
		exampletest.Click(t, tab, "ask")
		exampletest.WaitText(t, tab, "answer", "Request 1 over WebSocket: the provider says you are "+e.Email)
		exampletest.Screenshot(t, tab, "screenshot.png")
	})

	c := e.SignedInClient()
	direct := exampletest.Direct()
	foreign := e.ForeignOrigin()
	upgrades := []struct {
		name      string
		client    *http.Client
		base      string
		origin    string
		assertion string
		want      int
	}{
		{"through tokenhook: session and the public origin", c, e.URL, e.URL, "", http.StatusSwitchingProtocols},
		{"through tokenhook: session and a foreign origin", c, e.URL, foreign, "", http.StatusForbidden},
		{"through tokenhook: no session", direct, e.URL, e.URL, "", http.StatusUnauthorized},
		// Straight at the app (same origin for Dash's own check): the
		// plugin's websocket_connect hook refuses an upgrade without a
		// valid assertion.
		{"at the app: no assertion", direct, appURL, appURL, "", http.StatusForbidden},
		{"at the app: a forged assertion", direct, appURL, appURL, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", http.StatusForbidden},
	}
	for _, tc := range upgrades {
		t.Run("websocket upgrade "+tc.name, func(t *testing.T) {
			if got := exampletest.Upgrade(t, tc.client, tc.base+"/_dash-ws-callback", tc.origin, tc.assertion); got != tc.want {
				t.Errorf("upgrade answered %d, want %d", got, tc.want)
			}
		})
	}
}
