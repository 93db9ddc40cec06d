package verify_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/verify"
)

// A Go backend behind tokenhook (or any OAuth resource server) validates
// the bearer of every request with the provider's published keys.
func ExampleNew() {
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		Issuer:   "https://idp.example.com",
		Audience: "dashboard",
		// Opaque tokens are not expected from this provider.
		Introspect: verify.IntrospectNever,
	})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", c.Email)
	})
	http.Handle("/", v.Middleware(verify.MiddlewareOptions{
		Rules: verify.Rules{{PathPrefix: "/admin/", Groups: []string{"admins"}}},
		Skip:  []verify.Route{{Method: http.MethodGet, Path: "/healthz"}},
	})(app))
}

// With DPoPOptions the middleware also accepts DPoP-bound tokens (RFC 9449):
// tokenhook's own (--browser-token dpop: the issuer is tokenhook's public
// URL, its keys at /_tokenhook/jwks.json) or a provider's. Replicas share
// the store of used proofs and the nonce key.
func ExampleVerifier_Middleware_dpop() {
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		Issuer: "https://dash.example.com", Audience: "https://dash.example.com",
		JWKSURL: "https://dash.example.com/_tokenhook/jwks.json", SkipDiscovery: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379"})
	nonces, err := dpop.NewNonces([]byte(os.Getenv("DPOP_NONCE_KEY")), 0, nil) // 32 bytes or more
	if err != nil {
		log.Fatal(err)
	}
	proofs, err := dpop.NewVerifier(dpop.Config{Replay: redisstore.NewOnce(rdb, "api:dpop:"), Nonces: nonces})
	if err != nil {
		log.Fatal(err)
	}
	dpopToo := verify.MiddlewareOptions{DPoP: &verify.DPoPOptions{Proofs: proofs, Origin: "https://api.example.com"}}
	http.Handle("/", v.Middleware(dpopToo)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintln(w, "hello", c.Subject, "holding the key", c.JKT) // c.JKT is "" for a bearer
	})))
}

// StaticKeySet checks signatures with keys known in advance: no JWKS
// endpoint, no discovery.
func ExampleStaticKeySet() {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v, err := verify.New(context.Background(), verify.Config{
		Issuer: "https://idp.example.com", Audience: "dashboard", SkipDiscovery: true,
		KeySet: &verify.StaticKeySet{PublicKeys: []crypto.PublicKey{pub}},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, nil)
	if err != nil {
		log.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": "https://idp.example.com", "aud": "dashboard", "sub": "ada",
		"exp": now.Add(time.Hour).Unix(), "groups": "data team"})
	jws, err := signer.Sign(payload)
	if err != nil {
		log.Fatal(err)
	}
	token, _ := jws.CompactSerialize()

	c, err := v.Verify(context.Background(), token)
	fmt.Println(c.Subject, c.Groups, err)
	_, err = v.Verify(context.Background(), token[:len(token)-4]+"AAAA")
	fmt.Println(err)
	// Output:
	// ada [data team] <nil>
	// invalid token: bad signature
}

// ClaimsFromMap maps claims the same way for every source: a string groups
// claim is one group.
func ExampleClaimsFromMap() {
	c, err := verify.ClaimsFromMap(map[string]any{"sub": "ada", "email": "ada@example.com", "groups": "Domain Admins"}, "groups")
	fmt.Printf("%s %s %q %v\n", c.Subject, c.Email, c.Groups, err)
	// Output: ada ada@example.com ["Domain Admins"] <nil>
}
