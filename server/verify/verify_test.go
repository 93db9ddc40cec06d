package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// serve runs the middleware for a request with the given Authorization header
// values and returns the recorder and whether the app handler ran.
func serve(v *Verifier, opts MiddlewareOptions, method, path string, auth ...string) (*httptest.ResponseRecorder, *Claims) {
	var got *Claims
	h := v.Middleware(opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = ClaimsFromContext(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	r := httptest.NewRequest(method, path, nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, got
}

func TestAttackSet(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	valid := ti.token(t, nil)

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey(t, 0).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	claimsJSON, _ := json.Marshal(ti.claims())
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(valid, ".")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantCode   string // RFC 6750 error code in the challenge and body
		wantBody   string // substring of the body
	}{
		{"valid", "Bearer " + valid, http.StatusTeapot, "", ""},
		{"scheme is case-insensitive", "bearer " + valid, http.StatusTeapot, "", ""},
		{"alg none", "Bearer " + b64([]byte(`{"alg":"none","kid":"k1","typ":"JWT"}`)) + "." + b64(claimsJSON) + ".", 401, "invalid_token", "algorithm not allowed"},
		{"HS256 signed with the RSA public key", "Bearer " + sign(t, pubPEM, "k1", jose.HS256, ti.claims(), nil), 401, "invalid_token", "algorithm not allowed"},
		{"ES256 by a foreign key under our kid", "Bearer " + sign(t, ecKey, "k1", jose.ES256, ti.claims(), nil), 401, "invalid_token", "does not fit key"},
		{"embedded jwk header is ignored", "Bearer " + sign(t, rsaKey(t, 1), "k1", jose.RS256, ti.claims(), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: &rsaKey(t, 1).PublicKey}}), 401, "invalid_token", ""},
		{"signed by another key, same kid", "Bearer " + sign(t, rsaKey(t, 1), "k1", jose.RS256, ti.claims(), nil), 401, "invalid_token", "bad signature"},
		{"unknown kid", "Bearer " + sign(t, rsaKey(t, 1), "nope", jose.RS256, ti.claims(), nil), 401, "invalid_token", "unknown signing key"},
		{"expired", "Bearer " + ti.token(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401, "invalid_token", "JWT Expired"},
		{"expired within leeway", "Bearer " + ti.token(t, func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), http.StatusTeapot, "", ""},
		{"nbf in the future", "Bearer " + ti.token(t, func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), 401, "invalid_token", "nbf"},
		{"no exp", "Bearer " + ti.token(t, func(c map[string]any) { delete(c, "exp") }), 401, "invalid_token", "no exp"},
		{"exp not a number", "Bearer " + ti.token(t, func(c map[string]any) { c["exp"] = "tomorrow" }), 401, "invalid_token", "exp"},
		{"wrong iss", "Bearer " + ti.token(t, func(c map[string]any) { c["iss"] = ti.srv.URL + "/other" }), 401, "invalid_token", "wrong issuer"},
		{"wrong aud", "Bearer " + ti.token(t, func(c map[string]any) { c["aud"] = "someone-else" }), 401, "invalid_token", "audience"},
		{"aud list containing ours", "Bearer " + ti.token(t, func(c map[string]any) { c["aud"] = []string{"x", "app"} }), http.StatusTeapot, "", ""},
		{"truncated", "Bearer " + valid[:len(valid)-12], 401, "invalid_token", ""},
		{"two parts", "Bearer " + parts[0] + "." + parts[1], 401, "invalid_token", ""},
		{"bad base64 in payload", "Bearer " + parts[0] + ".eyJ+/x" + parts[1][6:] + "." + parts[2], 401, "invalid_token", ""},
		{"character outside token68", "Bearer " + parts[0] + ".!" + parts[1] + "." + parts[2], 400, "invalid_request", ""},
		{"1 MB header", "Bearer " + strings.Repeat("a", 1<<20), 401, "invalid_token", ""},
		{"garbage opaque token, no introspection", "Bearer abc", 401, "invalid_token", "not a JWT"},
		{"basic scheme", "Basic dXNlcjpwdw==", 400, "invalid_request", ""},
		{"scheme without token", "Bearer ", 400, "invalid_request", ""},
		{"no header", "", 401, "", "bearer token required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var auth []string
			if tc.auth != "" {
				auth = []string{tc.auth}
			}
			w, claims := serve(v, MiddlewareOptions{}, "POST", "/api", auth...)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantStatus == http.StatusTeapot {
				if claims == nil || claims.Subject != "user-1" || claims.Email != "ann@example.com" {
					t.Fatalf("claims not in context: %+v", claims)
				}
				return
			}
			if w.Header().Get("Location") != "" {
				t.Fatal("error answer redirects")
			}
			ch := w.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, `Bearer realm="test"`) {
				t.Fatalf("challenge %q", ch)
			}
			var body struct{ Error, ErrorDescription string }
			dec := json.NewDecoder(w.Body)
			if err := dec.Decode(&struct {
				Error            *string `json:"error"`
				ErrorDescription *string `json:"error_description"`
			}{&body.Error, &body.ErrorDescription}); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if tc.wantCode != "" {
				if !strings.Contains(ch, `error="`+tc.wantCode+`"`) || body.Error != tc.wantCode {
					t.Fatalf("challenge %q body error %q, want %q", ch, body.Error, tc.wantCode)
				}
			} else if strings.Contains(ch, "error=") {
				t.Fatalf("missing token must not carry an error code: %q", ch)
			}
			if !strings.Contains(body.ErrorDescription, tc.wantBody) {
				t.Fatalf("description %q, want it to contain %q", body.ErrorDescription, tc.wantBody)
			}
			if strings.Contains(w.Body.String(), parts[1]) {
				t.Fatal("error body echoes token material")
			}
		})
	}
	// Two Authorization headers are a malformed request.
	if w, _ := serve(v, MiddlewareOptions{}, "GET", "/", "Bearer "+valid, "Bearer "+valid); w.Code != 400 {
		t.Fatalf("two headers: status %d", w.Code)
	}
}

func TestErrorsAreDistinguishable(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	_, err := v.Verify(context.Background(), ti.token(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired: %v", err)
	}
	_, err = v.Verify(context.Background(), ti.token(t, func(c map[string]any) { c["aud"] = "x" }))
	if errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("wrong aud: %v", err)
	}
	if _, err = v.Verify(context.Background(), ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("empty: %v", err)
	}
}

func TestRequireATJWT(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, func(c *Config) { c.RequireATJWT = true })
	plain := ti.token(t, nil) // typ JWT
	at := sign(t, rsaKey(t, 0), "k1", jose.RS256, ti.claims(), map[jose.HeaderKey]any{"typ": "at+jwt"})
	if _, err := v.Verify(context.Background(), plain); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("typ JWT accepted with RequireATJWT: %v", err)
	}
	if _, err := v.Verify(context.Background(), at); err != nil {
		t.Fatalf("typ at+jwt refused: %v", err)
	}
	// Without the option typ is not checked.
	if _, err := ti.verifier(t, nil).Verify(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
}

func TestAlgorithmPinning(t *testing.T) {
	ti := newTestIssuer(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ti.addKey(jose.JSONWebKey{Key: ecKey, KeyID: "ec1", Use: "sig"})
	ti.addKey(jose.JSONWebKey{Key: rsaKey(t, 2), KeyID: "k3", Use: "sig"})
	tests := []struct {
		name   string
		pin    []string
		token  string
		wantOK bool
	}{
		{"EC key ES256", nil, sign(t, ecKey, "ec1", jose.ES256, ti.claims(), nil), true},
		{"RSA key without alg, PS256", nil, sign(t, rsaKey(t, 2), "k3", jose.PS256, ti.claims(), nil), true},
		{"JWK alg RS256 refuses RS512", nil, sign(t, rsaKey(t, 0), "k1", jose.RS512, ti.claims(), nil), false},
		{"pinned RS256 refuses ES256", []string{"RS256"}, sign(t, ecKey, "ec1", jose.ES256, ti.claims(), nil), false},
		{"pinned RS256 accepts RS256", []string{"RS256"}, ti.token(t, nil), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := ti.verifier(t, func(c *Config) { c.Algorithms = tc.pin })
			_, err := v.Verify(context.Background(), tc.token)
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
	if _, err := New(context.Background(), Config{Issuer: ti.srv.URL, Algorithms: []string{"HS256"}}); err == nil {
		t.Fatal("HS256 accepted as a pinned algorithm")
	}
}

func TestKeyRotationAndRefetchRateLimit(t *testing.T) {
	ti := newTestIssuer(t)
	now := time.Now()
	clock := func() time.Time { return now }
	v := ti.verifier(t, func(c *Config) { c.Now = clock })
	if _, err := v.Verify(context.Background(), ti.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	hits := ti.jwksHits.Load()

	// The provider rotates: a token signed with a new kid arrives.
	ti.addKey(jose.JSONWebKey{Key: rsaKey(t, 1), KeyID: "k2", Algorithm: "RS256", Use: "sig"})
	rotated := sign(t, rsaKey(t, 1), "k2", jose.RS256, ti.claims(), nil)
	// The first fetch happened "just now": the refetch is rate limited.
	if _, err := v.Verify(context.Background(), rotated); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("new kid within the refetch interval: %v", err)
	}
	if got := ti.jwksHits.Load(); got != hits {
		t.Fatalf("refetched within the rate limit (%d → %d)", hits, got)
	}
	now = now.Add(DefaultRefetchInterval + time.Second)
	if _, err := v.Verify(context.Background(), rotated); err != nil {
		t.Fatalf("new kid after the interval: %v", err)
	}
	if got := ti.jwksHits.Load(); got != hits+1 {
		t.Fatalf("want exactly one refetch, jwks hits %d → %d", hits, got)
	}
	// A flood of unknown kids causes no further fetches.
	for i := 0; i < 20; i++ {
		v.Verify(context.Background(), sign(t, rsaKey(t, 2), "flood", jose.RS256, ti.claims(), nil))
	}
	if got := ti.jwksHits.Load(); got != hits+1 {
		t.Fatalf("unknown kids refetched: %d", got-hits-1)
	}
}

func TestServesFromCacheWhileProviderDown(t *testing.T) {
	ti := newTestIssuer(t)
	now := time.Now()
	v := ti.verifier(t, func(c *Config) { c.Now = func() time.Time { return now }; c.CacheSize = -1 })
	if _, err := v.Verify(context.Background(), ti.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	ti.down.Store(true)
	now = now.Add(time.Minute)
	// An unknown kid makes it try the (down) provider...
	if _, err := v.Verify(context.Background(), sign(t, rsaKey(t, 1), "k9", jose.RS256, ti.claims(), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown kid with provider down: %v", err)
	}
	// ...and known keys keep working.
	c, err := v.Verify(context.Background(), ti.token(t, nil))
	if err != nil || c.Subject != "user-1" {
		t.Fatalf("cached keys not used while provider down: %v", err)
	}
}

func TestStartsWhileProviderDown(t *testing.T) {
	ti := newTestIssuer(t)
	ti.down.Store(true)
	now := time.Now()
	v := ti.verifier(t, func(c *Config) { c.Now = func() time.Time { return now } })
	if err := v.Ready(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready with provider down: %v", err)
	}
	tok := ti.token(t, nil)
	_, err := v.Verify(context.Background(), tok)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("verify with provider down: %v", err)
	}
	w := httptest.NewRecorder()
	v.WriteError(w, err)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", w.Code)
	}
	ti.down.Store(false)
	now = now.Add(3 * time.Second)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after provider came up: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func TestCache(t *testing.T) {
	ti := newTestIssuer(t)
	now := time.Now()
	v := ti.verifier(t, func(c *Config) { c.Now = func() time.Time { return now }; c.CacheTTL = time.Minute })
	exp := now.Add(2 * time.Minute).Truncate(time.Second)
	tok := ti.token(t, func(c map[string]any) { c["exp"] = exp.Unix() })
	c1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := v.Verify(context.Background(), tok)
	if c1 != c2 {
		t.Fatal("second verification not served from the cache")
	}
	now = now.Add(61 * time.Second) // past the TTL: validated again
	c3, err := v.Verify(context.Background(), tok)
	if err != nil || c3 == c1 {
		t.Fatalf("entry outlived its TTL (err %v)", err)
	}
	now = exp.Add(DefaultLeeway + time.Second) // past expiry: the cache must not answer
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached entry outlived the token: %v", err)
	}
	// Failures are not cached.
	bad := ti.token(t, func(c map[string]any) { c["aud"] = "x" })
	v.Verify(context.Background(), bad)
	if v.cache.len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", v.cache.len())
	}
	// The size bound holds.
	small := newCache(32)
	for i := 0; i < 1000; i++ {
		var k [32]byte
		k[0], k[1], k[5] = byte(i), byte(i>>8), byte(i%7)
		small.put(k, &Claims{}, now, now.Add(time.Hour))
	}
	if n := small.len(); n > 32 {
		t.Fatalf("cache grew to %d entries, bound 32", n)
	}
}

func TestRules(t *testing.T) {
	rules := Rules{
		{PathPrefix: "/admin/", Groups: []string{"admins"}},
		{PathPrefix: "/admin/public/"},
		{PathPrefix: "/corp/", Domains: []string{"example.com"}},
		{PathPrefix: "/ann/", Emails: []string{"ANN@example.com"}},
	}
	ann := &Claims{Email: "ann@example.com", Groups: []string{"staff"}, Raw: map[string]any{"email_verified": true}}
	admin := &Claims{Email: "bob@other.org", Groups: []string{"admins"}, Raw: map[string]any{}}
	unverified := &Claims{Email: "eve@example.com", Raw: map[string]any{"email_verified": false}}
	tests := []struct {
		path string
		c    *Claims
		ok   bool
	}{
		{"/", ann, true},
		{"/admin/x", ann, false},
		{"/admin/x", admin, true},
		{"/admin/public/x", ann, true}, // longest prefix wins
		{"/corp/a", ann, true},
		{"/corp/a", admin, false},
		{"/corp/a", unverified, false},
		{"/ann/", ann, true},
		{"/ann/", admin, false},
	}
	for _, tc := range tests {
		err := rules.Check(tc.path, tc.c)
		if (err == nil) != tc.ok {
			t.Errorf("%s for %s: err %v, want ok=%v", tc.path, tc.c.Email, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInsufficientScope) {
			t.Errorf("error %v does not wrap ErrInsufficientScope", err)
		}
	}

	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	skip, err := ParseRoute("GET /static/")
	if err != nil {
		t.Fatal(err)
	}
	opts := MiddlewareOptions{Rules: rules, Skip: []Route{skip}}
	if w, _ := serve(v, opts, "GET", "/static/app.js"); w.Code != http.StatusTeapot {
		t.Fatalf("skip route: %d", w.Code)
	}
	if w, _ := serve(v, opts, "POST", "/static/app.js"); w.Code != 401 {
		t.Fatalf("skip route matched another method: %d", w.Code)
	}
	w, _ := serve(v, opts, "GET", "/admin/x", "Bearer "+ti.token(t, func(c map[string]any) { c["groups"] = []string{"staff"} }))
	if w.Code != 403 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("rule not met: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w, _ := serve(v, opts, "GET", "/admin/x", "Bearer "+ti.token(t, nil)); w.Code != http.StatusTeapot {
		t.Fatalf("admin: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{"", "GET", "GET static", "a b c"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) accepted", bad)
		}
	}
}

func TestGroupsClaimConfigurable(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, func(c *Config) { c.GroupsClaim = "roles" })
	c, err := v.Verify(context.Background(), ti.token(t, func(c map[string]any) { c["roles"] = []string{"r1"} }))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 1 || c.Groups[0] != "r1" {
		t.Fatalf("groups %v", c.Groups)
	}
}

func TestOptionalMiddleware(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(t, nil)
	opts := MiddlewareOptions{Optional: true}
	if w, c := serve(v, opts, "GET", "/"); w.Code != http.StatusTeapot || c != nil {
		t.Fatalf("no token, optional: %d %v", w.Code, c)
	}
	if w, _ := serve(v, opts, "GET", "/", "Bearer "+ti.token(t, func(c map[string]any) { c["aud"] = "x" })); w.Code != 401 {
		t.Fatalf("bad token, optional: %d", w.Code)
	}
}
