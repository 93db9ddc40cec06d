package dpop_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
	clk := &clock{t0}
	v := newVerifier(b, clk, dpop.Config{})
	tk := newTokens(b, clk, issuer)
	c := newClient(b)
	raw, _, err := tk.Mint(dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: c.jkt(b)})
	if err != nil {
		b.Fatal(err)
	}
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
