package e2e_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/tokenhook/tokenhook/internal/browsertest"
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
