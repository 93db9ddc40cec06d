package backchannel

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/session"
)

const (
	issuer   = "https://idp.example.com"
	clientID = "tokenhook"
)

// testIssuer signs logout tokens with a real key, the way a provider does.
type testIssuer struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

func newIssuer(t testing.TB) *testIssuer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{key: k, alg: jose.RS256}
}

func (is *testIssuer) keySet() oidc.KeySet {
	return &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{is.key.Public()}}
}

// sign returns a signed JWT of claims with header typ.
func (is *testIssuer) sign(t testing.TB, claims map[string]any, typ string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", "k1")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: is.alg, Key: is.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

var jtiCounter int

// logoutClaims returns valid claims with a fresh jti.
func logoutClaims() map[string]any {
	jtiCounter++
	return map[string]any{
		"iss": issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", jtiCounter),
		"sid": "sid-1", "sub": "alice",
		"events": map[string]any{Event: map[string]any{}},
	}
}

func newValidator(t testing.TB, ks oidc.KeySet) *Validator {
	v, err := New(Config{Issuer: issuer, ClientID: clientID, KeySet: ks, Replay: once.NewMemory(1000), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	is := newIssuer(t)
	v := newValidator(t, is.keySet())
	other := newIssuer(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecIssuer := &testIssuer{key: ec, alg: jose.ES256}

	for _, tc := range []struct {
		name   string
		mod    func(c map[string]any)
		signer *testIssuer
		typ    string
		want   Logout
		err    string // substring of the InvalidError; "" = valid
	}{
		{name: "sid and sub", want: Logout{SID: "sid-1", Subject: "alice"}},
		{name: "sid only", mod: func(c map[string]any) { delete(c, "sub") }, want: Logout{SID: "sid-1"}},
		{name: "sub only", mod: func(c map[string]any) { delete(c, "sid") }, want: Logout{Subject: "alice"}},
		{name: "aud array", mod: func(c map[string]any) { c["aud"] = []string{"other", clientID} }, want: Logout{SID: "sid-1", Subject: "alice"}},
		{name: "no exp", mod: func(c map[string]any) { delete(c, "exp") }, want: Logout{SID: "sid-1", Subject: "alice"}},
		{name: "typ logout+jwt", typ: "logout+jwt", want: Logout{SID: "sid-1", Subject: "alice"}},
		{name: "event with members", mod: func(c map[string]any) { c["events"] = map[string]any{Event: map[string]any{"x": 1}, "other": true} }, want: Logout{SID: "sid-1", Subject: "alice"}},

		{name: "other key", signer: other, err: "signature"},
		{name: "other algorithm family", signer: ecIssuer, err: "signature"},
		{name: "wrong issuer", mod: func(c map[string]any) { c["iss"] = issuer + "/evil" }, err: "iss"},
		{name: "wrong audience", mod: func(c map[string]any) { c["aud"] = "someone-else" }, err: "aud"},
		{name: "audience missing", mod: func(c map[string]any) { delete(c, "aud") }, err: "aud"},
		{name: "no iat", mod: func(c map[string]any) { delete(c, "iat") }, err: "iat"},
		{name: "iat as string", mod: func(c map[string]any) { c["iat"] = "yesterday" }, err: "claims"},
		{name: "iat in the future", mod: func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }, err: "future"},
		{name: "too old", mod: func(c map[string]any) { c["iat"] = now.Add(-time.Hour).Unix() }, err: "ago"},
		{name: "expired", mod: func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }, err: "expired"},
		{name: "no events", mod: func(c map[string]any) { delete(c, "events") }, err: "events"},
		{name: "other event", mod: func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}, err: "events"},
		{name: "event not an object", mod: func(c map[string]any) { c["events"] = map[string]any{Event: true} }, err: "events"},
		{name: "nonce", mod: func(c map[string]any) { c["nonce"] = "n" }, err: "nonce"},
		{name: "empty nonce", mod: func(c map[string]any) { c["nonce"] = "" }, err: "nonce"},
		{name: "neither sid nor sub", mod: func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }, err: "neither"},
		{name: "no jti", mod: func(c map[string]any) { delete(c, "jti") }, err: "jti"},
		{name: "typ of an access token", typ: "at+jwt", err: "typ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := logoutClaims()
			if tc.mod != nil {
				tc.mod(c)
			}
			signer := is
			if tc.signer != nil {
				signer = tc.signer
			}
			got, err := v.Validate(context.Background(), signer.sign(t, c, tc.typ))
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var bad *InvalidError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want an InvalidError about %q", err, tc.err)
			}
		})
	}
}

func TestValidateRefusesForgeries(t *testing.T) {
	is := newIssuer(t)
	v := newValidator(t, is.keySet())
	good := is.sign(t, logoutClaims(), "")
	parts := strings.Split(good, ".")
	// alg none, and HS256 keyed with something public: refused before the
	// key set is asked.
	noneHeader := b64(`{"alg":"none"}`)
	hsCompact := testenv.SignJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("the-client-secret-or-a-public-key")}, nil, logoutClaims())
	for name, raw := range map[string]string{
		"empty":          "",
		"garbage":        "not a jwt",
		"alg none":       noneHeader + "." + parts[1] + ".",
		"hs256":          hsCompact,
		"payload swap":   parts[0] + "." + b64(`{"iss":"`+issuer+`"}`) + "." + parts[2],
		"huge":           strings.Repeat("a", 20000),
		"bad signature":  parts[0] + "." + parts[1] + "." + b64("0000"),
		"two dots extra": good + ".x",
	} {
		t.Run(name, func(t *testing.T) {
			var bad *InvalidError
			if _, err := v.Validate(context.Background(), raw); !errors.As(err, &bad) {
				t.Fatalf("error %v, want an InvalidError", err)
			}
		})
	}
}

func TestReplayRefused(t *testing.T) {
	is := newIssuer(t)
	replay := once.NewMemory(100)
	a, _ := New(Config{Issuer: issuer, ClientID: clientID, KeySet: is.keySet(), Replay: replay, Now: func() time.Time { return now }})
	b, _ := New(Config{Issuer: issuer, ClientID: clientID, KeySet: is.keySet(), Replay: replay, Now: func() time.Time { return now }})
	tok := is.sign(t, logoutClaims(), "")
	if _, err := a.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Validate(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay on another validator sharing the cache: %v", err)
	}
}

// TestRemoteKeySet fetches the issuer's keys over HTTP, as tokenhook does
// with the provider's jwks_uri.
func TestRemoteKeySet(t *testing.T) {
	is := newIssuer(t)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jwks)
	}))
	defer srv.Close()
	ctx := context.Background()
	v := newValidator(t, oidc.NewRemoteKeySet(ctx, srv.URL))
	if l, err := v.Validate(ctx, is.sign(t, logoutClaims(), "logout+jwt")); err != nil || l.SID != "sid-1" {
		t.Fatalf("%+v, %v", l, err)
	}
	if _, err := v.Validate(ctx, newIssuer(t).sign(t, logoutClaims(), "")); err == nil {
		t.Fatal("a token signed by another key passed")
	}
}

func TestHandler(t *testing.T) {
	is := newIssuer(t)
	v := newValidator(t, is.keySet())
	store := session.NewMemory()
	bus := session.NewLocalBus()
	var ended []string
	stop := bus.Subscribe(func(k string) { ended = append(ended, k) })
	defer stop()
	ctx := context.Background()
	later := now.Add(time.Hour)
	store.Now = func() time.Time { return now }
	store.Save(ctx, "k-alice-1", &session.Session{SID: "sid-1", Subject: "alice", ExpiresAt: later})
	store.Save(ctx, "k-alice-2", &session.Session{SID: "sid-2", Subject: "alice", ExpiresAt: later})
	store.Save(ctx, "k-bob", &session.Session{SID: "sid-3", Subject: "bob", ExpiresAt: later})
	h := Handler(v, EndSessions(store, bus))

	post := func(form url.Values) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/_tokenhook/backchannel-logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(rec, req)
		return rec
	}
	c := logoutClaims()
	delete(c, "sub") // sid only: alice's first session
	tok := is.sign(t, c, "logout+jwt")
	if rec := post(url.Values{"logout_token": {tok}}); rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("valid token: %d %q %s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	}
	if _, err := store.Load(ctx, "k-alice-1"); !errors.Is(err, session.ErrNotFound) {
		t.Fatal("the named session is still there")
	}
	for _, k := range []string{"k-alice-2", "k-bob"} {
		if _, err := store.Load(ctx, k); err != nil {
			t.Fatalf("session %s ended too: %v", k, err)
		}
	}
	if !slices.Equal(ended, []string{"k-alice-1"}) {
		t.Fatalf("bus announced %v", ended)
	}

	for name, form := range map[string]url.Values{
		"replay":   {"logout_token": {tok}},
		"missing":  {},
		"garbage":  {"logout_token": {"x.y.z"}},
		"big body": {"logout_token": {strings.Repeat("a", 70<<10)}},
	} {
		rec := post(form)
		var body map[string]string
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != 400 || body["error"] != "invalid_request" || body["error_description"] == "" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/_tokenhook/backchannel-logout?logout_token="+tok, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}

	// sub only: every session of alice.
	c = logoutClaims()
	delete(c, "sid")
	if rec := post(url.Values{"logout_token": {is.sign(t, c, "")}}); rec.Code != 200 {
		t.Fatalf("sub token: %d %s", rec.Code, rec.Body)
	}
	if _, err := store.Load(ctx, "k-alice-2"); !errors.Is(err, session.ErrNotFound) {
		t.Fatal("alice's other session survived a logout by subject")
	}
	if _, err := store.Load(ctx, "k-bob"); err != nil {
		t.Fatal("bob's session ended")
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
