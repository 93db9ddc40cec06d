package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/verify"
)

// TestVerifyTokenhookDPoPTokens: a Go backend on another origin validates
// the tokens tokenhook mints with --browser-token dpop, with the verify
// middleware against tokenhook's JWKS: a token with a fresh proof of the
// page's key goes through; the same token as a bearer, with a replayed
// proof, or with a proof of another key does not reach the backend.
func TestVerifyTokenhookDPoPTokens(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "dpop"})
	client := e.signedInClient(t)
	k := newProofKey(t)
	tokenURL := e.Origin + server.Prefix + "token"
	resp, _ := askToken(t, client, tokenURL, nil, "")
	_, body := askToken(t, client, tokenURL, nil, k.proof(t, "GET", tokenURL, "", resp.Header.Get("DPoP-Nonce")))
	token, _ := body["access_token"].(string)
	if token == "" {
		t.Fatalf("no token: %v", body)
	}

	v, err := verify.New(context.Background(), verify.Config{
		Issuer: e.Origin, Audience: e.Origin, SkipDiscovery: true,
		JWKSURL: e.Origin + server.Prefix + "jwks.json", Introspect: verify.IntrospectNever,
	})
	if err != nil {
		t.Fatal(err)
	}
	proofs, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	api := httptest.NewServer(nil)
	t.Cleanup(api.Close)
	api.Config.Handler = v.Middleware(verify.MiddlewareOptions{DPoP: &verify.DPoPOptions{Proofs: proofs, Origin: api.URL}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := verify.ClaimsFromContext(r.Context())
			seen = append(seen, c.Email)
		}))
	call := func(auth, proof string) *http.Response {
		req, _ := http.NewRequest("POST", api.URL+"/data", strings.NewReader("x"))
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	p := k.proof(t, "POST", api.URL+"/data", token, "")
	if resp := call("DPoP "+token, p); resp.StatusCode != 200 || len(seen) != 1 || seen[0] != e.email {
		t.Fatalf("token and proof: %d, backend saw %q", resp.StatusCode, seen)
	}
	for name, tc := range map[string]struct{ auth, proof, challenge string }{
		"as a bearer":           {"Bearer " + token, "", `DPoP realm="tokenhook", algs="ES256 EdDSA", error="invalid_token"`},
		"a replayed proof":      {"DPoP " + token, p, `error="invalid_dpop_proof"`},
		"another key's proof":   {"DPoP " + token, newProofKey(t).proof(t, "POST", api.URL+"/data", token, ""), `error="invalid_token"`},
		"a proof without ath":   {"DPoP " + token, k.proof(t, "POST", api.URL+"/data", "", ""), `error="invalid_dpop_proof"`},
		"a proof for tokenhook": {"DPoP " + token, k.proof(t, "POST", e.Origin+"/data", token, ""), `error="invalid_dpop_proof"`},
	} {
		resp := call(tc.auth, tc.proof)
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(got, tc.challenge) {
			t.Errorf("%s: %d %q, want 401 with %s", name, resp.StatusCode, got, tc.challenge)
		}
	}
	if len(seen) != 1 {
		t.Fatalf("refused requests reached the backend: %q", seen)
	}
}
