package e2e_test

import (
	"github.com/tokenhook/tokenhook/internal/testenv"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/server"
)

// BenchmarkDPoPRatio compares proxied POSTs through the composed server
// with --browser-token dpop (Dex as the provider; each request carries the
// session cookie, our DPoP token and a fresh ES256 proof: token, proof,
// replay cache, nonce and session checked, the session's provider token
// attached) with POSTs through a bare httputil.ReverseProxy to the same
// backend. The proofs are signed before the timer starts. It alternates
// batches of parallel requests and reports dpop/bare throughput as "ratio"
// (issue 15's goal: at least 0.7). Run it with e.g. -benchtime=20x.
func BenchmarkDPoPRatio(b *testing.B) {
	const batch, workers = 400, 16
	e := newEnv(b, envOptions{Upstream: true, BrowserToken: "dpop"})
	e.Mux.HandleFunc("POST /bench", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	up := httptest.NewServer(e.Mux)
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	bare := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	b.Cleanup(bare.Close)

	client := e.signedInClient(b)

	// The token, as the page gets it: the nonce first, then a proof.
	k := newProofKey(b)
	tokenURL := e.Origin + server.Prefix + "token"
	resp, _ := askToken(b, client, tokenURL, nil, "")
	nonce := resp.Header.Get("DPoP-Nonce")
	_, body := askToken(b, client, tokenURL, nil, k.proof(b, "GET", tokenURL, "", nonce))
	token, _ := body["access_token"].(string)
	if token == "" {
		b.Fatalf("no token: %v", body)
	}
	proofs := make(chan string, (b.N+1)*batch)
	for range cap(proofs) {
		proofs <- k.proof(b, "POST", e.Origin+"/bench", token, nonce)
	}

	send := func(base string, dp bool) {
		req, _ := http.NewRequest(http.MethodPost, base+"/bench", strings.NewReader("x"))
		if dp {
			req.Header.Set("Authorization", "DPoP "+token)
			req.Header.Set("DPoP", <-proofs)
		} else {
			req.Header.Set("Authorization", "Bearer x")
		}
		testenv.Send(b, client, req, http.StatusNoContent)
	}
	testenv.CompareThroughput(b, batch, workers, [2]string{"bare", "dpop"},
		[2]func(){func() { send(bare.URL, false) }, func() { send(e.Origin, true) }})
}
