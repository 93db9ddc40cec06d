package dpop_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/dpop"
)

// Run with e.g. go test ./server/dpop -run='^$' -bench=. -benchtime=2000x

// BenchmarkVerifyProof: one ES256 proof with ath, checked and recorded (the
// proofs are signed before the timer starts).
func BenchmarkVerifyProof(b *testing.B) {
	clk := &clock{t0}
	v := newVerifier(b, clk, dpop.Config{})
	c := newClient(b)
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = c.proof(b, "POST", pageURL, t0, token)
	}
	req := dpop.Request{Method: "POST", URL: pageURL, AccessToken: token}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Verify(b.Context(), proofs[i], req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintVerify: minting an EdDSA token and verifying it.
func BenchmarkMintVerify(b *testing.B) {
	tk := newTokens(b, &clock{t0}, issuer)
	jkt := newClient(b).jkt(b)
	g := dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: jkt, Claims: map[string]any{"email": "alice@example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		raw, _, err := tk.Mint(g)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tk.Verify(raw, audience, jkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddleware: a request through Middleware (token and proof
// checked) to a handler that does nothing.
func BenchmarkMiddleware(b *testing.B) {
	v, tk, c, raw := boundToken(b)
	h := dpop.Middleware(v, tk, dpop.MiddlewareOptions{Origin: "https://app.example.com", Audience: audience})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest("POST", pageURL, nil)
		r.Header.Set("Authorization", "DPoP "+raw)
		r.Header.Set(dpop.ProofHeader, c.proof(b, "POST", pageURL, t0, raw))
		reqs[i] = r
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.ServeHTTP(w, reqs[i])
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkProxyRatio alternates batches of parallel POSTs through a bare
// httputil.ReverseProxy and through the same proxy behind Middleware (every
// request a fresh ES256 proof with ath, checked and recorded; the token's
// signature checked once), and reports dpop/bare throughput as "ratio"
// (issue 15's goal: at least 0.7). The proofs are signed before the timer
// starts. Run it with e.g. -benchtime=20x.
func BenchmarkProxyRatio(b *testing.B) {
	const batch, workers = 400, 16
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"multi":true,"response":{"out":{"children":"ok"}}}`))
	}))
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		b.Fatal(err)
	}
	tr := func() *http.Transport {
		return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr()
	bare := httptest.NewServer(rp)
	b.Cleanup(bare.Close)

	v, tk, c, raw := boundToken(b)
	guarded := httptest.NewServer(dpop.Middleware(v, tk, dpop.MiddlewareOptions{Origin: issuer, Audience: audience})(rp))
	b.Cleanup(guarded.Close)

	proofs := make(chan string, (b.N+1)*batch)
	for range cap(proofs) {
		proofs <- c.proof(b, "POST", pageURL, t0, raw)
	}
	client := &http.Client{Transport: tr(), Timeout: 10 * time.Second}
	post := func(base string, dp bool) {
		req, _ := http.NewRequest("POST", base+"/api/data", strings.NewReader(`{"x":1}`))
		if dp {
			req.Header.Set("Authorization", "DPoP "+raw)
			req.Header.Set(dpop.ProofHeader, <-proofs)
		}
		testenv.Send(b, client, req, http.StatusOK)
	}
	testenv.CompareThroughput(b, batch, workers, [2]string{"bare", "dpop"},
		[2]func(){func() { post(bare.URL, false) }, func() { post(guarded.URL, true) }})
}

// boundToken returns a Verifier and Tokens on a clock stopped at t0, a
// client, and a token for alice bound to the client's key.
func boundToken(b *testing.B) (*dpop.Verifier, *dpop.Tokens, *client, string) {
	clk := &clock{t0}
	tk := newTokens(b, clk, issuer)
	c := newClient(b)
	raw, _, err := tk.Mint(dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: c.jkt(b)})
	if err != nil {
		b.Fatal(err)
	}
	return newVerifier(b, clk, dpop.Config{}), tk, c, raw
}
