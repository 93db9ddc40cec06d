package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

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
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Errorf("dpop %v: status %d", dp, resp.StatusCode)
		}
	}
	run := func(base string, dp bool) time.Duration {
		return parallelBatch(batch, workers, func() { send(base, dp) })
	}
	run(bare.URL, false)
	run(e.Origin, true)
	var tBare, tDPoP time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			tBare += run(bare.URL, false)
			tDPoP += run(e.Origin, true)
		} else {
			tDPoP += run(e.Origin, true)
			tBare += run(bare.URL, false)
		}
	}
	n := float64(b.N * batch)
	b.ReportMetric(n/tBare.Seconds(), "bare-req/s")
	b.ReportMetric(n/tDPoP.Seconds(), "dpop-req/s")
	b.ReportMetric(tBare.Seconds()/tDPoP.Seconds(), "ratio")
}
