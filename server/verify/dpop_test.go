package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/dpop"
)

// dpopApp is the handler behind the middleware in the DPoP tests: it
// answers the subject and the source of the validated identity.
func dpopApp(reached *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*reached++
		c, _ := ClaimsFromContext(r.Context())
		w.Write([]byte(c.Subject))
	})
}

// TestMiddlewareDPoP: with DPoPOptions, a provider's DPoP-bound JWT (cnf.jkt)
// is accepted with a fresh proof of its key for this method and URL, and
// refused (never reaching the app) without one, with a reused one, with one
// of another key, method, URL or token, and as a bearer (RFC 9449 §7.1);
// plain bearer tokens keep working.
func TestMiddlewareDPoP(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	key, other := newP256(t), newP256(t)
	jkt := thumbprint(t, key)
	bound := ti.token(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": jkt} })
	expired := ti.token(t, func(c map[string]any) {
		c["cnf"] = map[string]any{"jkt": jkt}
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	})
	bearer := ti.token(t, nil)
	proofs, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://api.example.com"
	reached := 0
	h := v.Middleware(MiddlewareOptions{DPoP: &DPoPOptions{Proofs: proofs, Origin: origin}})(dpopApp(&reached))
	used := testenv.DPoPProof(t, key, "POST", origin+"/data", bound, "")

	for _, tc := range []struct {
		name          string
		auth, proof   string
		status        int
		code, scheme  string // the error code and challenge scheme, "" when 200
		wantChallenge string // a further challenge expected
	}{
		{name: "bound token and its proof", auth: "DPoP " + bound, proof: used, status: 200},
		{name: "the same proof again", auth: "DPoP " + bound, proof: used, status: 401, code: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "no proof", auth: "DPoP " + bound, status: 401, code: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "proof of another key", auth: "DPoP " + bound, proof: testenv.DPoPProof(t, other, "POST", origin+"/data", bound, ""), status: 401, code: "invalid_token", scheme: "DPoP"},
		{name: "proof for another method", auth: "DPoP " + bound, proof: testenv.DPoPProof(t, key, "GET", origin+"/data", bound, ""), status: 401, code: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "proof for another URL", auth: "DPoP " + bound, proof: testenv.DPoPProof(t, key, "POST", origin+"/other", bound, ""), status: 401, code: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "proof for another token", auth: "DPoP " + bound, proof: testenv.DPoPProof(t, key, "POST", origin+"/data", bearer, ""), status: 401, code: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "expired bound token", auth: "DPoP " + expired, proof: testenv.DPoPProof(t, key, "POST", origin+"/data", expired, ""), status: 401, code: "invalid_token", scheme: "DPoP"},
		{name: "unbound token with the DPoP scheme", auth: "DPoP " + bearer, proof: testenv.DPoPProof(t, key, "POST", origin+"/data", bearer, ""), status: 401, code: "invalid_token", scheme: "DPoP"},
		{name: "bound token as a bearer", auth: "Bearer " + bound, status: 401, code: "invalid_token", scheme: "DPoP"},
		{name: "bound token as a bearer with a proof", auth: "Bearer " + bound, proof: testenv.DPoPProof(t, key, "POST", origin+"/data", bound, ""), status: 401, code: "invalid_token", scheme: "DPoP"},
		{name: "plain bearer", auth: "Bearer " + bearer, status: 200},
		{name: "no token", status: 401, code: "unauthorized", scheme: "Bearer", wantChallenge: `DPoP algs="ES256 EdDSA"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached
			r := httptest.NewRequest("POST", origin+"/data", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if tc.proof != "" {
				r.Header.Set("DPoP", tc.proof)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == 200 {
				if reached != before+1 || w.Body.String() != "user-1" {
					t.Fatalf("the app saw %q (%d calls)", w.Body, reached-before)
				}
				return
			}
			if reached != before {
				t.Fatal("a refused request reached the app")
			}
			var body struct{ Error string }
			json.Unmarshal(w.Body.Bytes(), &body)
			challenges := w.Header().Values("WWW-Authenticate")
			if body.Error != tc.code || len(challenges) == 0 || !strings.HasPrefix(challenges[0], tc.scheme+" ") {
				t.Fatalf("error %q, challenges %q; want %s and a %s challenge", body.Error, challenges, tc.code, tc.scheme)
			}
			if tc.code != "unauthorized" && !strings.Contains(challenges[0], `error="`+tc.code+`"`) {
				t.Fatalf("challenge %q does not name %s", challenges[0], tc.code)
			}
			if tc.wantChallenge != "" && (len(challenges) != 2 || challenges[1] != tc.wantChallenge) {
				t.Fatalf("challenges %q, want also %s", challenges, tc.wantChallenge)
			}
		})
	}

	t.Run("bound token as a bearer without DPoP options", func(t *testing.T) {
		r := httptest.NewRequest("GET", origin+"/data", nil)
		r.Header.Set("Authorization", "Bearer "+bound)
		w := httptest.NewRecorder()
		before := reached
		v.Middleware(MiddlewareOptions{})(dpopApp(&reached)).ServeHTTP(w, r)
		if w.Code != 401 || reached != before || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `DPoP realm="test", algs="ES256 EdDSA", error="invalid_token"`) {
			t.Fatalf("%d %q %s", w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
		}
	})

	// A rule the viewer does not meet: 403 insufficient_scope, challenged in
	// the scheme the request used.
	t.Run("rule not met", func(t *testing.T) {
		rules := Rules{{PathPrefix: "/", Groups: []string{"auditors"}}}
		h := v.Middleware(MiddlewareOptions{Rules: rules, DPoP: &DPoPOptions{Proofs: proofs, Origin: origin}})(dpopApp(&reached))
		for _, tc := range []struct{ auth, proof, challenge string }{
			{"DPoP " + bound, testenv.DPoPProof(t, key, "POST", origin+"/data", bound, ""), `DPoP realm="test", algs="ES256 EdDSA", error="insufficient_scope"`},
			{"Bearer " + bearer, "", `Bearer realm="test", error="insufficient_scope"`},
		} {
			r := httptest.NewRequest("POST", origin+"/data", nil)
			r.Header.Set("Authorization", tc.auth)
			if tc.proof != "" {
				r.Header.Set("DPoP", tc.proof)
			}
			w := httptest.NewRecorder()
			before := reached
			h.ServeHTTP(w, r)
			if got := w.Header().Get("WWW-Authenticate"); w.Code != 403 || reached != before || !strings.HasPrefix(got, tc.challenge) {
				t.Fatalf("%s: %d %q, want 403 and %s", tc.auth[:4], w.Code, got, tc.challenge)
			}
		}
	})
}

// TestMiddlewareDPoPNonce: with nonces on, a proof without the server's
// nonce is answered 401 use_dpop_nonce with a DPoP-Nonce, and the retry
// with that nonce goes through.
func TestMiddlewareDPoPNonce(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	key := newP256(t)
	bound := ti.token(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": thumbprint(t, key)} })
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	proofs, err := dpop.NewVerifier(dpop.Config{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://api.example.com/" // a trailing slash is fine
	reached := 0
	h := v.Middleware(MiddlewareOptions{DPoP: &DPoPOptions{Proofs: proofs, Origin: origin}})(dpopApp(&reached))
	call := func(nonce string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "https://api.example.com/data", nil)
		r.Header.Set("Authorization", "DPoP "+bound)
		r.Header.Set("DPoP", testenv.DPoPProof(t, key, "GET", "https://api.example.com/data", bound, nonce))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := call("")
	nonce := w.Header().Get(dpop.NonceHeader)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || nonce == "" || reached != 0 {
		t.Fatalf("without a nonce: %d %q nonce %q", w.Code, w.Header().Get("WWW-Authenticate"), nonce)
	}
	if w := call(nonce); w.Code != 200 || reached != 1 {
		t.Fatalf("with the nonce: %d %s", w.Code, w.Body)
	}
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func thumbprint(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	s, err := dpop.Thumbprint(&jose.JSONWebKey{Key: k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
