package e2e_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// BenchmarkBrowserTokenRatio compares proxied POSTs through the composed
// server (tokenhook with --browser-token none in front of an upstream, Dex as
// the provider) as the two page modes send them: "bearer", the page's
// Authorization: Bearer with the session cookie (token validation and the
// session), and "none", the session cookie with X-TokenHook: 1 (the session,
// and the session's token from the broker attached on the way). The server
// handles a bearer request identically in both modes. It alternates batches
// of parallel requests and reports none/bearer throughput as "ratio" (goal ≥
// 0.95). Run it with e.g. -benchtime=20x.
func BenchmarkBrowserTokenRatio(b *testing.B) {
	e := newEnv(b, envOptions{Upstream: true, BrowserToken: "none"})
	var mu sync.Mutex
	bearer := ""
	e.Mux.HandleFunc("POST /bench", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bearer = r.Header.Get("Authorization")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	client := e.signedInClient(b)
	send := func(mode string) {
		req, _ := http.NewRequest(http.MethodPost, e.Origin+"/bench", strings.NewReader("x"))
		req.Header.Set("Origin", e.Origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if mode == "none" {
			req.Header.Set("X-TokenHook", "1")
		} else {
			mu.Lock()
			req.Header.Set("Authorization", bearer)
			mu.Unlock()
		}
		testenv.Send(b, client, req, http.StatusNoContent)
	}
	send("none") // learn the session's token (what a bearer page would hold)
	testenv.CompareThroughput(b, 400, 16, [2]string{"bearer", "none"}, [2]func(){func() { send("bearer") }, func() { send("none") }})
}

// signedInClient signs the viewer in with Go's client through tokenhook and
// Dex, and returns the client, its cookie jar holding the session.
func (e *env) signedInClient(b testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, client, e.Origin+"/_tokenhook/login?rd=/", e.email, e.password, func(*url.URL) bool { return false })
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	client.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	return client
}
