// Package fastapi_test runs the FastAPI example (app.py, real FastAPI on
// uvicorn) behind a real tokenhook: the page's fetch carries the bearer, and
// the endpoint gets the verified viewer and the viewer's token through the
// tokenhook package.
package fastapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestFastAPIApp(t *testing.T) {
	py := exampletest.VenvPython(t, "fastapi", "uvicorn")
	e := exampletest.New(t)
	appURL := e.StartPython(py, "/healthz", []string{"OIDC_ISSUER=" + e.Issuer},
		[]string{"-m", "uvicorn", "app:app", "--host", "$HOST", "--port", "$PORT"})

	t.Run("in the browser: the POST carries the bearer and the endpoint knows the viewer", func(t *testing.T) {
		tab := browser.Tab(t)
		e.OpenSignedIn(tab, "/")
		exampletest.Click(t, tab, "report")
		exampletest.WaitText(t, tab, "out", e.Email+": "+e.Email)
		exampletest.Screenshot(t, tab, "screenshot.png")
	})

	c := e.SignedInClient()
	token := e.Token(c)
	tests := []struct {
		name   string
		client *http.Client
		base   string
		auth   string
		want   int
	}{
		{"through tokenhook with the bearer", c, e.URL, "Bearer " + token, http.StatusOK},
		{"through tokenhook without a bearer", c, e.URL, "", http.StatusUnauthorized},
		// Straight at the app there is no assertion: the package refuses.
		{"at the app, with the bearer but no assertion", exampletest.Direct(), appURL, "Bearer " + token, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := exampletest.PostAuth(t, tc.client, tc.base+"/api/report", tc.auth)
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d %v, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want != http.StatusOK {
				return
			}
			if body["viewer"] != e.Email || body["bearer"] != true || body["provider_says"] != e.Email {
				t.Errorf("answer %v, want the viewer, the bearer, and the provider's word", body)
			}
		})
	}
}
