package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp/zitadelop"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// opaqueEnv is tokenhook in front of an app, signing in with zitadel's
// example provider, whose access tokens are opaque and introspected.
type opaqueEnv struct {
	url            string
	token          string // a valid opaque access token
	introspections atomic.Int64
}

func newOpaqueEnv(t *testing.T, introspect string) *opaqueEnv {
	t.Helper()
	o := &opaqueEnv{}
	idpLn, thLn := localListener(t), localListener(t)
	o.url = "http://" + thLn.Addr().String()
	cb := o.url + "/_tokenhook/callback"
	p, err := zitadelop.Start(idpLn, "tokenhook", testSecret, []string{cb}, testenv.CountPath("/oauth/introspect", &o.introspections))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	t.Cleanup(app.Close)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, Config{PublicURL: o.url, Issuer: p.Issuer, ClientID: "tokenhook", ClientSecret: testSecret,
		CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), Upstream: app.URL, Introspect: introspect},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, thLn) }()
	t.Cleanup(func() { cancel(); <-done })

	// A viewer's token, straight from the provider.
	lctx, lcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer lcancel()
	tok, err := p.AccessToken(lctx, "tokenhook", testSecret, cb)
	if err != nil {
		t.Fatal(err)
	}
	o.token = tok.AccessToken
	return o
}

// localListener listens on a free loopback port.
func localListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// get sends GET /api/data with bearer token and returns the status.
func (o *opaqueEnv) get(c *http.Client, token string) int {
	req, _ := http.NewRequest("GET", o.url+"/api/data", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// flood runs 64 clients for d, each sending token(i, n) on its n-th request,
// and returns the answers' statuses by count.
func (o *opaqueEnv) flood(d time.Duration, token func(i, n int) string) map[int]int {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i := range 64 {
		wg.Go(func() {
			local := map[int]int{}
			for n := 0; time.Now().Before(end); n++ {
				local[o.get(c, token(i, n))]++
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return statuses
}

// TestIntrospectionFlood (issue 10, defect 9): strangers hammering tokenhook
// with tokens that are not valid cause a bounded trickle of introspection
// calls at the provider, and a valid token keeps validating meanwhile.
func TestIntrospectionFlood(t *testing.T) {
	o := newOpaqueEnv(t, "")
	c := &http.Client{Timeout: 10 * time.Second}
	if st := o.get(c, o.token); st != 200 {
		t.Fatalf("valid opaque token: %d", st)
	}

	// The viewer keeps working during both attacks.
	stop := make(chan struct{})
	var valid, refused atomic.Int64
	viewer := make(chan struct{})
	go func() {
		defer close(viewer)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if o.get(c, o.token) == 200 {
				valid.Add(1)
			} else {
				refused.Add(1)
			}
		}
	}()

	t.Run("one garbage token", func(t *testing.T) {
		before := o.introspections.Load()
		st := o.flood(2*time.Second, func(int, int) string { return "garbage-opaque-token-0123456789" })
		calls := o.introspections.Load() - before
		t.Logf("%v; %d introspection calls", st, calls)
		if calls > 2 {
			t.Fatalf("%d introspection calls for one garbage token", calls)
		}
		if st[401] < 64 || len(st) != 1 {
			t.Fatalf("answers %v, want only 401", st)
		}
	})
	t.Run("a new garbage token on every request", func(t *testing.T) {
		before := o.introspections.Load()
		st := o.flood(2*time.Second, func(i, n int) string { return fmt.Sprintf("garbage-%d-%d-abcdefghijklmnop", i, n) })
		calls := o.introspections.Load() - before
		t.Logf("%v; %d introspection calls", st, calls)
		// One client address: a burst of 10 refusals, then one per second.
		if calls > 14 {
			t.Fatalf("%d introspection calls in 2 s", calls)
		}
		if st[429] == 0 || st[200] != 0 || st[0] != 0 {
			t.Fatalf("answers %v, want 401 then 429", st)
		}
	})
	close(stop)
	<-viewer
	if refused.Load() != 0 || valid.Load() == 0 {
		t.Fatalf("valid token during the flood: %d accepted, %d refused", valid.Load(), refused.Load())
	}
	t.Logf("valid token accepted %d times during the floods", valid.Load())
}

// TestIntrospectNever: with --introspect=never an opaque token costs no
// provider call at all.
func TestIntrospectNever(t *testing.T) {
	o := newOpaqueEnv(t, "never")
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tok := range []string{"garbage-opaque-token-0123456789", o.token} {
		if st := o.get(c, tok); st != 401 {
			t.Fatalf("opaque token answered %d, want 401", st)
		}
	}
	if n := o.introspections.Load(); n != 0 {
		t.Fatalf("%d introspection calls", n)
	}
}
