package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// BenchmarkFetchPOST measures a same-origin fetch POST in real Chromium, one
// op per request, without the browser hook ("bare") and with it and a cached
// token ("hooked"); the difference is the hook's per-request cost. Requests
// run one after another inside the page, so the CDP round trip is paid once.
func BenchmarkFetchPOST(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.page("/hooked", "", ``)
	e.Mux.HandleFunc("GET /bare", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>bare</title>`)
	})
	var withAuth, total atomic.Int64
	e.Mux.HandleFunc("POST /bench", func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		if r.Header.Get("Authorization") != "" {
			withAuth.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	tab := e.signedInTab(b, "/hooked")
	browsertest.Eval[string](tab, `TokenHook.getToken()`)

	for _, bc := range []struct{ name, path string }{{"bare", "/bare"}, {"hooked", "/hooked"}} {
		b.Run(bc.name, func(b *testing.B) {
			tab.Navigate(e.Origin + bc.path)
			// Warm up the connection and the hook.
			browsertest.Eval[bool](tab, `fetch("/bench", {method: "POST", body: "w"}).then(() => true)`)
			withAuth.Store(0)
			total.Store(0)
			b.ResetTimer()
			browsertest.Eval[bool](tab, fmt.Sprintf(`(async () => {
				for (let i = 0; i < %d; i++) await fetch("/bench", {method: "POST", body: "x"});
				return true;
			})()`, b.N))
			b.StopTimer()
			if n := total.Load(); n != int64(b.N) {
				b.Fatalf("server saw %d requests, want %d", n, b.N)
			}
			if n, want := withAuth.Load(), map[string]int64{"bare": 0, "hooked": int64(b.N)}[bc.name]; n != want {
				b.Fatalf("%d of %d requests carried the token, want %d", n, b.N, want)
			}
		})
	}
}

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
	b.Helper()
	client := testenv.NewClient()
	e.stack.SignIn(client)
	client.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	return client
}
