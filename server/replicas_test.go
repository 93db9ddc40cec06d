package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// TestRefreshAcrossReplicas: two tokenhook replicas share one Redis and one
// Dex (strict refresh-token rotation). Storms of expired-token requests
// spread over both cost exactly one refresh grant each: the broker's lock is
// the Redis lease, so the replicas never redeem the same refresh token.
func TestRefreshAcrossReplicas(t *testing.T) {
	rs := testenv.StartRedis(t)
	e := newEnvWith(t, func(e *testEnv, c *Config) {
		c.SessionStore, c.DataDir = "redis://"+rs.Addr(t)+"/0", ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := New(ctx, e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	replica := httptest.NewServer(b.Handler())
	t.Cleanup(replica.Close)
	for deadline := time.Now().Add(10 * time.Second); b.broker.SignIn().Provider() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second replica did not discover the provider")
		}
	}
	c := e.signedIn(users[0])
	cookies := c.Jar.Cookies(mustURL(e.url))
	onReplica := func() tokenAnswer {
		req, _ := http.NewRequest(http.MethodGet, replica.URL+Prefix+"token", nil)
		req.Header.Set("X-TokenHook", "1")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return tokenAnswer{raw: err.Error()}
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := tokenAnswer{status: resp.StatusCode, raw: string(raw)}
		json.Unmarshal(raw, &a.body)
		return a
	}
	for storm := range 3 {
		e.expire(c)
		before := e.tokenCalls.Load()
		got := make([]tokenAnswer, 100)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				if i%2 == 0 {
					got[i] = e.token(c, nil)
				} else {
					got[i] = onReplica()
				}
			})
		}
		wg.Wait()
		for i, a := range got {
			if a.status != 200 || a.body["access_token"] != got[0].body["access_token"] {
				t.Fatalf("storm %d, caller %d: %v", storm, i, a)
			}
		}
		if n := e.tokenCalls.Load() - before; n != 1 {
			t.Fatalf("storm %d over two replicas: %d refresh grants, want 1", storm, n)
		}
	}
}
