package dpop_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/server/dpop"
)

// A token endpoint checks the proof of the client's key and mints a token
// bound to that key; the API behind Middleware lets through only requests
// with such a token and a fresh proof of the same key.
func Example() {
	const origin = "https://app.example.com"
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tokens, err := dpop.NewTokens(dpop.TokenConfig{Issuer: origin, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_tokenhook/token", func(w http.ResponseWriter, r *http.Request) {
		// (Check the viewer's session first.)
		proof, err := v.VerifyRequest(r, origin+r.URL.Path, "")
		if err != nil {
			v.WriteTokenError(w, err)
			return
		}
		token, exp, err := tokens.Mint(dpop.Grant{Subject: "alice", Audience: []string{origin}, JKT: proof.JKT})
		if err != nil {
			http.Error(w, "cannot mint", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"DPoP","expires_at":%d}`, token, exp.Unix())
	})
	guard := dpop.Middleware(v, tokens, dpop.MiddlewareOptions{
		Origin:   origin,
		Audience: origin,
		Verified: func(r *http.Request, res *dpop.Result) { r.Header.Set("X-Forwarded-User", res.Claims.Subject) },
	})
	mux.Handle("/api/", guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello", r.Header.Get("X-Forwarded-User"))
	})))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

func ExampleStatus() {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(context.Background(), "", dpop.Request{Method: "GET", URL: "https://app.example.com/"})
	fmt.Println(dpop.Status(err))
	// Output: 401 invalid_dpop_proof
}
