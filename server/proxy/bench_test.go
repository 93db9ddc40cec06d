package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// benchSetup starts an upstream, a bare httputil.ReverseProxy in front of it
// (with the same tuned transport, so the comparison measures validation and
// header work, not connection reuse) and the validating proxy.
func benchSetup(b *testing.B) (bare, validated string, token string, client *http.Client) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"multi":true,"response":{"out":{"children":"ok"}}}`))
	}))
	b.Cleanup(up.Close)
	u := mustURL(b, up.URL)
	tr := func() *http.Transport {
		return &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr()
	bareSrv := httptest.NewServer(rp)
	b.Cleanup(bareSrv.Close)

	is := newIssuer(b)
	p := newProxy(b, Config{Upstream: u, Verifier: is.verifier(b), StripCookies: []string{"th_session"}})
	valSrv := httptest.NewServer(p)
	b.Cleanup(valSrv.Close)
	client = &http.Client{Transport: tr(), Timeout: 10 * time.Second}
	return bareSrv.URL, valSrv.URL, is.token(b, time.Hour), client
}

func post(b *testing.B, client *http.Client, u, token string) {
	req, _ := http.NewRequest("POST", u+"/_dash-update-component", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Cookie", "th_session=x; _csrf_token=y")
	testenv.Send(b, client, req, http.StatusOK)
}

// BenchmarkProxy reports the throughput of a bare ReverseProxy and of the
// validating proxy (bearer POSTs, token cached) in req/s.
func BenchmarkProxy(b *testing.B) {
	bare, validated, token, client := benchSetup(b)
	for _, tc := range []struct{ name, url string }{{"bare", bare}, {"validated", validated}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, client, tc.url, token)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkProxyRatio alternates batches of parallel requests through the bare
// and the validating proxy and reports validated/bare throughput as "ratio"
// (goal ≥ 0.9). Run it with e.g. -benchtime=20x.
func BenchmarkProxyRatio(b *testing.B) {
	bare, validated, token, client := benchSetup(b)
	testenv.CompareThroughput(b, 400, 16, [2]string{"bare", "validated"}, [2]func(){
		func() { post(b, client, bare, token) },
		func() { post(b, client, validated, token) },
	})
}
