package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/server/metrics"
	"github.com/tokenhook/tokenhook/server/verify"
)

// BenchmarkProxiedBearerMetrics alternates batches of parallel bearer POSTs
// (token cached) through two composed servers in front of one upstream and
// one Dex, one without and one with metrics, and reports their throughputs
// and "ratio" = with/without (goal ≥ 0.97). Run it with e.g.
// -benchtime=20x.
func BenchmarkProxiedBearerMetrics(b *testing.B) {
	idpLn, offLn, onLn := localListener(b), localListener(b), localListener(b)
	off, on := "http://"+offLn.Addr().String(), "http://"+onLn.Addr().String()
	issuer := "http://" + idpLn.Addr().String() + "/dex"
	p, err := idp.Start(context.Background(), idp.Options{Issuer: issuer, Listener: idpLn, Users: users,
		Clients: []idp.Client{{ID: "tokenhook", Secret: testSecret, RedirectURIs: []string{off + "/_tokenhook/callback", on + "/_tokenhook/callback"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"multi":true,"response":{"out":{"children":"ok"}}}`))
	}))
	b.Cleanup(app.Close)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	for _, s := range []struct {
		ln      net.Listener
		url     string
		metrics string
	}{{offLn, off, ""}, {onLn, on, "127.0.0.1:0"}} {
		srv, err := New(ctx, Config{PublicURL: s.url, Issuer: issuer, ClientID: "tokenhook", ClientSecret: testSecret,
			CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), Upstream: app.URL, MetricsAddr: s.metrics},
			slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ctx, s.ln)
	}

	// Sign in through the first server for a real access token; both
	// servers accept it (same issuer and audience).
	token := benchAccessToken(b, off)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, DisableCompression: true}}
	// post sends one Dash callback with the bearer to u.
	post := func(u string) func() {
		return func() {
			req, _ := http.NewRequest("POST", u+"/_dash-update-component", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			testenv.Send(b, client, req, http.StatusOK)
		}
	}
	testenv.CompareThroughput(b, 400, 16, [2]string{"no-metrics", "metrics"}, [2]func(){post(off), post(on)})
}

// BenchmarkMetricsPerRequest is what metrics add to one proxied bearer
// request: its route class, the request counter and the validation counter.
func BenchmarkMetricsPerRequest(b *testing.B) {
	m := metrics.New()
	r := httptest.NewRequest("POST", "/_dash-update-component", nil)
	b.ReportAllocs()
	for b.Loop() {
		m.Request(routeClass(r), http.StatusOK)
		m.Bearer(verify.OutcomeValidCached)
	}
}
