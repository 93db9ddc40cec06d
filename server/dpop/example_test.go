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

// A token endpoint checks the proof of the client's key, then mints a token
// bound to that key.
func ExampleTokens_Mint() {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tokens, err := dpop.NewTokens(dpop.TokenConfig{Issuer: "https://app.example.com", Key: jose.JSONWebKey{Key: key, KeyID: "k1"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_tokenhook/token", func(w http.ResponseWriter, r *http.Request) {
		raw, err := dpop.ProofFromRequest(r)
		if err != nil {
			v.WriteTokenError(w, err)
			return
		}
		proof, err := v.Verify(r.Context(), raw, dpop.Request{Method: r.Method, URL: "https://app.example.com" + r.URL.Path})
		if err != nil {
			v.WriteTokenError(w, err)
			return
		}
		token, exp, err := tokens.Mint(dpop.Grant{Subject: "alice", Audience: []string{"https://app.example.com"}, JKT: proof.JKT})
		if err != nil {
			http.Error(w, "cannot mint", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"DPoP","expires_at":%d}`, token, exp.Unix())
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// A resource server lets through only requests with a token of ours and a
// proof of the key it is bound to.
func ExampleMiddleware() {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tokens, err := dpop.NewTokens(dpop.TokenConfig{Issuer: "https://app.example.com", Key: jose.JSONWebKey{Key: key, KeyID: "k1"}})
	if err != nil {
		log.Fatal(err)
	}
	guard := dpop.Middleware(v, tokens, dpop.MiddlewareOptions{
		Origin:   "https://app.example.com",
		Audience: "https://app.example.com",
		Verified: func(r *http.Request, res *dpop.Result) { r.Header.Set("X-Forwarded-User", res.Claims.Subject) },
	})
	mux := http.NewServeMux()
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
