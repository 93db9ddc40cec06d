// Package flask_test runs the Flask example (app.py) with Debian's
// python3-flask and python3-jwt behind a real tokenhook and the real
// provider.
package flask_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// whoami is the app's answer to POST /api/whoami.
type whoami struct {
	Validated struct {
		Sub    string   `json:"sub"`
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
		Iss    string   `json:"iss"`
		Aud    []string `json:"aud"`
		Exp    int64    `json:"exp"`
	} `json:"validated"`
	Forwarded  map[string]string `json:"forwarded"`
	SameViewer bool              `json:"same_viewer"`
}

func TestFlaskApp(t *testing.T) {
	exampletest.NeedPython(t, "flask", "jwt", "cryptography")
	e := exampletest.New(t)
	addr := testenv.FreeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	exampletest.Start(t, ".", []string{
		"OIDC_ISSUER=" + e.Issuer, "OIDC_AUDIENCE=" + exampletest.ClientID,
		"HOST=" + host, "PORT=" + port, "PYTHONDONTWRITEBYTECODE=1",
	}, exampletest.Python, "app.py")
	appURL := "http://" + addr
	testenv.WaitHTTP(t, appURL+"/healthz", http.StatusOK, 30*time.Second)
	e.Serve(appURL)

	c := e.SignedInClient()
	token := e.Token(c)
	direct := exampletest.Direct()

	tests := []struct {
		name          string
		client        *http.Client
		base, auth    string
		wantStatus    int
		wantChallenge string // substring of WWW-Authenticate
		wantForwarded bool   // the identity headers arrived (through tokenhook)
	}{
		{name: "through tokenhook with the viewer's token", client: c, base: e.URL, auth: "Bearer " + token,
			wantStatus: 200, wantForwarded: true},
		{name: "directly, valid token: the app validates it itself", client: direct, base: appURL, auth: "Bearer " + token,
			wantStatus: 200},
		{name: "directly, no token", client: direct, base: appURL,
			wantStatus: 401, wantChallenge: `Bearer realm="flask-example"`},
		{name: "directly, garbage token", client: direct, base: appURL, auth: "Bearer garbage",
			wantStatus: 401, wantChallenge: `error="invalid_token"`},
		{name: "directly, tampered token", client: direct, base: appURL, auth: "Bearer " + token[:len(token)-6] + "AAAAAA",
			wantStatus: 401, wantChallenge: `error="invalid_token"`},
		{name: "directly, unsigned token", client: direct, base: appURL, auth: "Bearer " + unsigned(t, token),
			wantStatus: 401, wantChallenge: `error="invalid_token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := exampletest.PostAuth(t, tc.client, tc.base+"/api/whoami", tc.auth)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			if tc.wantChallenge != "" {
				if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, tc.wantChallenge) {
					t.Errorf("WWW-Authenticate %q, want %q in it", ch, tc.wantChallenge)
				}
				return
			}
			var w whoami
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatalf("answer %s: %v", b, err)
			}
			v := w.Validated
			if v.Email != e.Email || v.Sub == "" || v.Iss != e.Issuer || len(v.Aud) != 1 || v.Aud[0] != exampletest.ClientID ||
				time.Unix(v.Exp, 0).Before(time.Now()) || len(v.Groups) != 1 || v.Groups[0] != exampletest.Group {
				t.Errorf("validated claims %+v, want the viewer's token", v)
			}
			if tc.wantForwarded {
				if w.Forwarded["email"] != e.Email || w.Forwarded["preferred_username"] != e.Username || !w.SameViewer {
					t.Errorf("forwarded %v same_viewer=%v, want the viewer's identity", w.Forwarded, w.SameViewer)
				}
			} else if w.Forwarded["email"] != "" || w.SameViewer {
				t.Errorf("forwarded %v without tokenhook in between", w.Forwarded)
			}
		})
	}

	t.Run("the page greets the forwarded viewer", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `<strong id="email">`+e.Email+`</strong>`) {
			t.Errorf("status %d, page %.300s; want a greeting for %s", resp.StatusCode, b, e.Email)
		}
	})
}

// unsigned re-encodes the token's claims with alg "none" and no signature.
func unsigned(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	// base64url of {"alg":"none","typ":"JWT"}
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
}
