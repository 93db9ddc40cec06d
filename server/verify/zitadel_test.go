package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp/zitadelop"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/verify"
)

// zitadelProvider starts zitadel/oidc's example provider with the client
// "web", counting its introspection and userinfo calls (slow delays each
// introspection answer), and returns it with an opaque access token of its
// test user.
type zitadelProvider struct {
	*zitadelop.Provider
	token                     string
	introspections, userinfos atomic.Int32
	slow                      atomic.Int64 // nanoseconds
}

func startZitadel(t testing.TB) *zitadelProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &zitadelProvider{}
	z.Provider, err = zitadelop.Start(ln, "web", "s3cret", []string{"http://127.0.0.1:1/cb"}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/oauth/introspect":
				z.introspections.Add(1)
				time.Sleep(time.Duration(z.slow.Load()))
			case "/userinfo":
				z.userinfos.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := z.AccessToken(ctx, "web", "s3cret", "http://127.0.0.1:1/cb")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("expected an opaque access token, got a JWT")
	}
	z.token = tok.AccessToken
	return z
}

// TestZitadelOpaqueTokens verifies the opaque access tokens of zitadel/oidc's
// example provider through RFC 7662 introspection (with client
// authentication) and through the userinfo endpoint.
func TestZitadelOpaqueTokens(t *testing.T) {
	p := startZitadel(t)
	introspections, userinfos := &p.introspections, &p.userinfos
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tests := []struct {
		name    string
		cfg     verify.Config
		counter *atomic.Int32
		wantErr error
	}{
		{"introspection", verify.Config{Issuer: p.Issuer, Audience: "web", ClientID: "web", ClientSecret: "s3cret"}, introspections, nil},
		{"introspection with a wrong client secret", verify.Config{Issuer: p.Issuer, ClientID: "web", ClientSecret: "nope"}, introspections, verify.ErrUnavailable},
		{"userinfo", verify.Config{Issuer: p.Issuer, SkipDiscovery: true, UserinfoURL: p.Issuer + "userinfo"}, userinfos, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := tc.counter.Load()
			c, err := v.Verify(ctx, p.token)
			if tc.counter.Load() != before+1 {
				t.Fatalf("endpoint called %d times", tc.counter.Load()-before)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "id1" || c.Email != "test-user@zitadel.ch" {
				t.Fatalf("claims %+v", c)
			}
			// Cached: no second call.
			if _, err := v.Verify(ctx, p.token); err != nil || tc.counter.Load() != before+1 {
				t.Fatalf("second verification not cached (err %v)", err)
			}
			// An unknown opaque token is refused.
			if _, err := v.Verify(ctx, "definitely-not-a-token"); !errors.Is(err, verify.ErrInvalidToken) {
				t.Fatalf("unknown token: %v", err)
			}
		})
	}
}

// TestIntrospectionLimits: refusals are cached for NegativeCacheTTL and no
// longer; a cached positive answer never outlives the token's exp;
// concurrent look-ups of one token make one provider call; a client over its
// budget gets ErrRateLimited without a provider call.
func TestIntrospectionLimits(t *testing.T) {
	z := startZitadel(t)
	ctx := context.Background()
	newVerifier := func(t *testing.T, mod func(*verify.Config)) *verify.Verifier {
		t.Helper()
		cfg := verify.Config{Issuer: z.Issuer, Audience: "web", ClientID: "web", ClientSecret: "s3cret"}
		if mod != nil {
			mod(&cfg)
		}
		v, err := verify.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	calls := func() int32 { return z.introspections.Load() }

	t.Run("negative cache lives NegativeCacheTTL", func(t *testing.T) {
		now := time.Now()
		v := newVerifier(t, func(c *verify.Config) { c.Now = func() time.Time { return now } })
		before := calls()
		for range 5 {
			if _, err := v.Verify(ctx, "garbage-token-for-the-negative-cache"); !errors.Is(err, verify.ErrInvalidToken) {
				t.Fatal(err)
			}
		}
		if calls()-before != 1 {
			t.Fatalf("%d calls for five tries", calls()-before)
		}
		now = now.Add(verify.DefaultNegativeCacheTTL - time.Millisecond)
		v.Verify(ctx, "garbage-token-for-the-negative-cache")
		if calls()-before != 1 {
			t.Fatal("refusal not cached until its TTL")
		}
		now = now.Add(time.Millisecond)
		v.Verify(ctx, "garbage-token-for-the-negative-cache")
		if calls()-before != 2 {
			t.Fatal("refusal outlived its TTL")
		}
	})
	t.Run("positive answer ends at the token's exp", func(t *testing.T) {
		now := time.Now()
		v := newVerifier(t, func(c *verify.Config) { c.Now = func() time.Time { return now }; c.CacheTTL = 24 * time.Hour })
		c, err := v.Verify(ctx, z.token)
		if err != nil || c.Expiry.IsZero() {
			t.Fatalf("claims %+v, err %v", c, err)
		}
		before := calls()
		if _, err := v.Verify(ctx, z.token); err != nil || calls() != before {
			t.Fatalf("not cached (err %v)", err)
		}
		now = c.Expiry.Add(verify.DefaultLeeway + time.Second)
		if _, err := v.Verify(ctx, z.token); !errors.Is(err, verify.ErrExpired) {
			t.Fatalf("after exp: %v", err)
		}
		if calls() != before+1 {
			t.Fatal("the cached answer outlived the token's exp")
		}
	})
	t.Run("one flight per token", func(t *testing.T) {
		v := newVerifier(t, func(c *verify.Config) { c.NegativeCacheTTL = -1 })
		z.slow.Store(int64(200 * time.Millisecond))
		defer z.slow.Store(0)
		before := calls()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() { v.Verify(ctx, "garbage-token-for-one-flight") })
		}
		wg.Wait()
		if n := calls() - before; n != 1 {
			t.Fatalf("%d provider calls for 32 concurrent look-ups", n)
		}
	})
	t.Run("budget per client address", func(t *testing.T) {
		v := newVerifier(t, func(c *verify.Config) { c.LookupBurst = 3; c.LookupRate = 0.001 })
		before := calls()
		for i := range 10 {
			_, err := v.VerifyFrom(ctx, fmt.Sprintf("garbage-%d-abcdefghijkl", i), "198.51.100.7")
			if want := i >= 3; errors.Is(err, verify.ErrRateLimited) != want {
				t.Fatalf("try %d: %v", i, err)
			}
		}
		if n := calls() - before; n != 3 {
			t.Fatalf("%d provider calls, want 3", n)
		}
		// Another address and known tokens are not affected.
		if _, err := v.VerifyFrom(ctx, "garbage-from-elsewhere-abcdef", "198.51.100.8"); !errors.Is(err, verify.ErrInvalidToken) {
			t.Fatal(err)
		}
		if _, err := v.VerifyFrom(ctx, z.token, "198.51.100.8"); err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyFrom(ctx, z.token, "198.51.100.7"); err != nil {
			t.Fatalf("a valid cached token from a limited address: %v", err)
		}
	})
	t.Run("middleware budget per client behind trusted proxies", func(t *testing.T) {
		lb, err := ratelimit.ParseProxies("10.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(t, func(c *verify.Config) { c.LookupBurst = 3; c.LookupRate = 0.001; c.TrustedProxies = lb })
		h := v.Middleware(verify.MiddlewareOptions{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		try := func(peer, xff string, i int) int {
			r := httptest.NewRequest("GET", "/api", nil)
			r.RemoteAddr, r.Header["X-Forwarded-For"] = peer, []string{xff}
			r.Header.Set("Authorization", fmt.Sprintf("Bearer garbage-%s-%d-abcdefghijkl", xff, i))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		for i := range 3 {
			if code := try("10.0.0.5:1", "203.0.113.1", i); code != http.StatusUnauthorized {
				t.Fatalf("try %d: %d", i, code)
			}
		}
		if code := try("10.0.0.6:1", "203.0.113.1", 3); code != http.StatusTooManyRequests {
			t.Fatalf("the viewer over its budget, through another balancer: %d, want 429", code)
		}
		if code := try("10.0.0.5:1", "203.0.113.2", 0); code != http.StatusUnauthorized {
			t.Fatalf("another viewer behind the same balancer: %d, want 401", code)
		}
	})
}

// BenchmarkValidTokenDuringFlood measures validations of a valid opaque
// token while eight attackers send a new garbage token in a loop; it
// reports the provider calls the attack caused per second.
func BenchmarkValidTokenDuringFlood(b *testing.B) {
	z := startZitadel(b)
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{Issuer: z.Issuer, Audience: "web", ClientID: "web", ClientSecret: "s3cret"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(ctx, z.token); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				v.VerifyFrom(ctx, fmt.Sprintf("garbage-%d-%d-abcdefgh", i, n), "203.0.113.9")
			}
		})
	}
	before, start := z.introspections.Load(), time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, z.token); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(z.introspections.Load()-before)/time.Since(start).Seconds(), "provider-calls/s")
}
