package main

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// page is the origin of the dashboard page that calls the API.
const page = "http://127.0.0.1:4180"

// TestAPI runs the example API as a user runs it (the command with its
// flags) against real tokens: the viewer signs in at the real provider
// through tokenhook, and the token tokenhook hands to the browser is what
// the page sends to the API.
func TestAPI(t *testing.T) {
	e := exampletest.New(t)
	e.Serve("")
	c := testenv.NewClient()
	e.SignIn(c)
	token := e.Token(c)

	api := startAPI(t, e.Issuer, exampletest.Group)
	// The same API where only another group may order.
	strict := startAPI(t, e.Issuer, "purchasing")

	tests := []struct {
		name, method, path, auth, origin, body string
		server                                 string // the API's URL; default api
		wantStatus                             int
		wantChallenge                          string // substring of WWW-Authenticate; "" = none expected
		wantBody                               string // substring of the body
		wantACAO                               string
	}{
		{name: "valid token", method: "GET", path: "/api/me", auth: "Bearer " + token,
			wantStatus: 200, wantBody: `"email":"` + e.Email + `"`},
		{name: "valid token, groups", method: "GET", path: "/api/me", auth: "Bearer " + token,
			wantStatus: 200, wantBody: `"groups":["` + exampletest.Group + `"]`},
		{name: "valid token, write", method: "POST", path: "/api/orders", auth: "Bearer " + token, body: `{"item":"coffee"}`,
			wantStatus: 201, wantBody: `"ordered_by":"` + e.Email + `"`},
		{name: "no token", method: "GET", path: "/api/me",
			wantStatus: 401, wantChallenge: `Bearer realm=`},
		{name: "garbage token", method: "GET", path: "/api/me", auth: "Bearer not-a-token",
			wantStatus: 401, wantChallenge: `error="invalid_token"`},
		{name: "tampered token", method: "POST", path: "/api/orders", auth: "Bearer " + tamper(token), body: `{"item":"coffee"}`,
			wantStatus: 401, wantChallenge: `error="invalid_token"`},
		{name: "valid token, not in the orders group", server: strict, method: "POST", path: "/api/orders", auth: "Bearer " + token, body: `{"item":"coffee"}`,
			wantStatus: 403, wantChallenge: `error="insufficient_scope"`},
		{name: "valid token, not in the orders group, may still read", server: strict, method: "GET", path: "/api/me", auth: "Bearer " + token,
			wantStatus: 200, wantBody: `"email":"` + e.Email + `"`},
		{name: "not a bearer scheme", method: "GET", path: "/api/me", auth: "Basic dXNlcjpwYXNz",
			wantStatus: 400, wantBody: `"error":"invalid_request"`},
		{name: "health needs no token", method: "GET", path: "/healthz", wantStatus: 200, wantBody: "ok"},
		{name: "preflight from the page", method: "OPTIONS", path: "/api/orders", origin: page,
			wantStatus: 204, wantACAO: page},
		{name: "cross-origin call from the page", method: "GET", path: "/api/me", origin: page, auth: "Bearer " + token,
			wantStatus: 200, wantACAO: page},
		{name: "another origin gets no CORS grant", method: "GET", path: "/api/me", origin: "http://127.0.0.1:4180.evil.example", auth: "Bearer " + token,
			wantStatus: 200, wantACAO: ""},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, cmp.Or(tc.server, api)+tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			ch := resp.Header.Get("WWW-Authenticate")
			if tc.wantChallenge == "" && ch != "" && resp.StatusCode < 400 {
				t.Errorf("unexpected challenge %q", ch)
			}
			if tc.wantChallenge != "" && !strings.Contains(ch, tc.wantChallenge) {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", ch, tc.wantChallenge)
			}
			if tc.wantBody != "" && !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("body %s, want it to contain %s", b, tc.wantBody)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantACAO)
			}
			if tc.path == "/api/me" && resp.StatusCode == 200 {
				var v viewer
				if err := json.Unmarshal(b, &v); err != nil || v.Subject == "" || time.Until(v.ExpiresAt) <= 0 {
					t.Errorf("answer %s: want a subject and a future expiry (%v)", b, err)
				}
			}
		})
	}
}

// startAPI runs the command on a free address with ordersGroup and returns
// its URL. The test fails unless the command stops cleanly when it ends.
func startAPI(t *testing.T, issuer, ordersGroup string) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--issuer", issuer, "--audience", exampletest.ClientID,
			"--allow-origin", page, "--orders-group", ordersGroup})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("go-backend stopped with %v", err)
		}
	})
	testenv.WaitHTTP(t, "http://"+addr+"/healthz", http.StatusOK, 10*time.Second)
	return "http://" + addr
}

// tamper flips one character of the token's signature.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestRunFlags: the command refuses to start without issuer and audience.
func TestRunFlags(t *testing.T) {
	t.Setenv("OIDC_ISSUER", "")
	t.Setenv("OIDC_AUDIENCE", "")
	tests := []struct {
		name string
		args []string
	}{
		{"nothing", nil},
		{"no audience", []string{"--issuer", "http://127.0.0.1:1/dex"}},
		{"no issuer", []string{"--audience", "examples"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), "required") {
				t.Fatalf("run(%q) = %v, want a 'required' error", tc.args, err)
			}
		})
	}
}
