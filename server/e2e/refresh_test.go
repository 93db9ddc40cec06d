package e2e_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// staleHash is the X-TokenHook-Stale value for a token.
func staleHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// rejectFirst answers 401 to the first token it sees, as a backend does with a
// token that was revoked or expired early, and accepts any other token.
// style picks the answer: RFC 6750 WWW-Authenticate or Dash's "JWT Expired".
type rejectFirst struct {
	mu       sync.Mutex
	rejected string
	style    string
}

func (rf *rejectFirst) respond(w http.ResponseWriter, r *http.Request, h hit) {
	rf.mu.Lock()
	if rf.rejected == "" && h.Auth != "" {
		rf.rejected = h.Auth
	}
	reject := h.Auth == "" || h.Auth == rf.rejected
	rf.mu.Unlock()
	if !reject {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "body": h.Body})
		return
	}
	if rf.style == "jwt" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "JWT Expired")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="test", error="invalid_token", error_description="token revoked"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
}

// TestReplayAfter401: the backend refuses the first token it sees; the
// page's request succeeds after exactly one refresh (a token request naming
// the refused token) and one replay carrying the same body, and the caller
// sees only the 200.
func TestReplayAfter401(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", ``)
	tab := e.signedInTab(t, "/dash")
	browsertest.Eval[string](tab, `TokenHook.getToken()`)

	body := `{"query":"sum","values":[1,2,3],"note":"ünïcödé"}`
	cases := []struct {
		name, style, path string
		js                string // BODY and PATH are replaced
	}{
		{"fetch string", "bearer", "/api/replay-fetch", `fetch(PATH, {method: "POST", headers: {"Content-Type": "application/json"}, body: BODY})`},
		{"fetch Request", "bearer", "/api/replay-request", `fetch(new Request(PATH, {method: "POST", headers: {"X-Test": "kept"}, body: BODY}))`},
		{"fetch Blob body", "bearer", "/api/replay-blob", `fetch(PATH, {method: "POST", body: new Blob([BODY])})`},
		{"XHR", "bearer", "/api/replay-xhr", `xhr("POST", PATH, BODY, {"X-Test": "kept"})`},
		{"fetch JWT Expired body", "jwt", "/api/replay-jwt", `fetch(PATH, {method: "POST", body: BODY})`},
		{"XHR JWT Expired body", "jwt", "/api/replay-jwt-xhr", `xhr("POST", PATH, BODY)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			rf := &rejectFirst{style: tc.style}
			e.Mux.Handle("POST "+path, api(e.Backend, e.Origin, rf.respond))
			before, _ := e.Tokens.snapshot()

			got, err := browsertest.EvalErr[result](tab, `res(`+strings.NewReplacer("BODY", escapeJS(body), "PATH", escapeJS(path)).Replace(tc.js)+`)`)
			if err != nil {
				t.Fatalf("the page's request failed: %v", err)
			}
			if got.Status != http.StatusOK || !strings.Contains(got.Text, `"ok":true`) {
				t.Errorf("the caller saw %d %q, want only the 200 of the replay", got.Status, got.Text)
			}

			hits := e.Backend.at(path)
			if len(hits) != 2 {
				t.Fatalf("backend received %d requests, want 2 (refused, replayed)", len(hits))
			}
			first, second := e.checkToken(hits[0].Auth), e.checkToken(hits[1].Auth)
			if first == second {
				t.Error("the replay carried the refused token again")
			}
			for i, h := range hits {
				if h.Body != body {
					t.Errorf("request %d body = %q, want %q", i+1, h.Body, body)
				}
				if strings.Contains(tc.js, "X-Test") && h.Header.Get("X-Test") != "kept" {
					t.Errorf("request %d lost header X-Test", i+1)
				}
			}

			after, _ := e.Tokens.snapshot()
			added := after[len(before):]
			if len(added) != 1 {
				t.Fatalf("%d token requests during the replay, want exactly 1: %+v", len(added), added)
			}
			if want := staleHash(first); added[0].Stale != want {
				t.Errorf("token request X-TokenHook-Stale = %q, want the hash of the refused token %q", added[0].Stale, want)
			}
		})
	}
}

// TestConcurrent401OneRefresh: 50 requests refused at once with the same
// token cause exactly one token request, and all 50 are replayed with the new
// token.
func TestConcurrent401OneRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", ``)
	rf := &rejectFirst{style: "bearer"}
	e.Mux.Handle("POST /api/burst401", api(e.Backend, e.Origin, rf.respond))
	tab := e.signedInTab(t, "/dash")
	browsertest.Eval[string](tab, `TokenHook.getToken()`)
	before, _ := e.Tokens.snapshot()

	statuses := browsertest.Eval[[]int](tab, `Promise.all(Array.from({length: 50}, (_, i) =>
		fetch("/api/burst401", {method: "POST", body: "n" + i}).then(r => r.status)))`)
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: caller saw %d", i, s)
		}
	}
	after, _ := e.Tokens.snapshot()
	if n := len(after) - len(before); n != 1 {
		t.Errorf("%d token requests for 50 refused requests, want exactly 1", n)
	}
	hits := e.Backend.at("/api/burst401")
	rf.mu.Lock()
	refused := rf.rejected
	rf.mu.Unlock()
	fresh := map[string]int{}
	bodies := map[string]bool{}
	for _, h := range hits {
		if h.Auth != refused {
			fresh[h.Auth]++
			bodies[h.Body] = true
		}
	}
	if len(fresh) != 1 || len(bodies) != 50 {
		t.Errorf("replays: %d distinct tokens over %d distinct bodies, want 1 token and 50 bodies (%d requests in all)", len(fresh), len(bodies), len(hits))
	}
}

// TestExpiredTokenBurst: the page's token has expired while the page could
// not run timers (a laptop waking up, simulated by keeping the main thread
// busy past the token's lifetime); 50 POSTs started at that moment cause
// exactly one token request, and all carry a fresh token that the server
// obtained from the provider.
func TestExpiredTokenBurst(t *testing.T) {
	const ttl = 4 * time.Second
	e := newEnv(t, envOptions{TokenTTL: ttl})
	e.page("/dash", "", ``)
	// /mark is requested synchronously just before the page blocks: it waits
	// until no token request is under way and returns how many there were,
	// so every token request after it belongs to the burst.
	marks := make(chan int, 1)
	e.Mux.HandleFunc("GET /mark", func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			reqs, inflight := e.Tokens.snapshot()
			if inflight == 0 || time.Now().After(deadline) {
				marks <- len(reqs)
				fmt.Fprint(w, len(reqs))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	tab := e.signedInTab(t, "/dash")
	old := browsertest.Eval[string](tab, `TokenHook.getToken()`)

	statuses := browsertest.Eval[[]int](tab, fmt.Sprintf(`(() => {
		const x = new XMLHttpRequest();
		x.open("GET", "/mark", false);
		x.send();
		const until = Date.now() + %d;
		while (Date.now() < until) {}
		return Promise.all(Array.from({length: 50}, (_, i) =>
			fetch("/api/expired", {method: "POST", body: "n" + i}).then(r => r.status)));
	})()`, (ttl+500*time.Millisecond).Milliseconds()))

	mark := <-marks
	reqs, _ := e.Tokens.snapshot()
	if n := len(reqs) - mark; n != 1 {
		t.Errorf("%d token requests after the token expired, want exactly 1: %+v", n, reqs[mark:])
	}
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	hits := e.Backend.at("/api/expired")
	if len(hits) != 50 {
		t.Fatalf("backend received %d requests, want 50", len(hits))
	}
	fresh := e.checkToken(hits[0].Auth)
	if fresh == old {
		t.Error("the burst carried the expired token")
	}
	for i, h := range hits {
		if h.Auth != hits[0].Auth {
			t.Errorf("request %d carried another token than request 1", i)
		}
	}
}

// TestRefusingResourceCostsNoGrants: an API that refuses the viewer's token
// for its own reason (here: always, as for a wrong audience) gets one
// refresh-and-replay; after that its 401s go to the caller with no refresh
// grant at Dex, for fetch and XHR alike, and every other call keeps working
// with the fresh token without refreshing.
func TestRefusingResourceCostsNoGrants(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.Mux.Handle("POST /api/aud/", api(e.Backend, e.Origin, func(w http.ResponseWriter, r *http.Request, h hit) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="wrong audience"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
	}))
	e.page("/refused", "", ``)
	tab := e.signedInTab(t, "/refused")
	browsertest.Eval[string](tab, `TokenHook.getToken()`)

	const calls = 6
	var perCall []int32
	for i := 0; i < calls; i++ {
		js := fmt.Sprintf(`res(fetch("/api/aud/%d", {method: "POST", body: "f%d"}))`, i, i)
		if i%2 == 1 {
			js = fmt.Sprintf(`xhr("POST", "/api/aud/%d", "x%d")`, i, i)
		}
		before := e.Grants.Load()
		got := browsertest.Eval[struct {
			Status int
			Text   string
		}](tab, js)
		perCall = append(perCall, e.Grants.Load()-before)
		if got.Status != http.StatusUnauthorized {
			t.Errorf("call %d: status %d, want the API's 401", i, got.Status)
		}
	}
	t.Logf("refresh grants at Dex per refused call: %v", perCall)
	if perCall[0] != 1 {
		t.Errorf("first refused call: %d grants, want 1 (one refresh, then the replay is refused too)", perCall[0])
	}
	for i, n := range perCall[1:] {
		if n != 0 {
			t.Errorf("refused call %d: %d grants, want 0", i+1, n)
		}
	}
	if n := len(e.Backend.at("/api/aud/0")); n != 2 {
		t.Errorf("first refused call reached the API %d times, want 2 (request and replay)", n)
	}
	for i := 1; i < calls; i++ {
		if n := len(e.Backend.at(fmt.Sprintf("/api/aud/%d", i))); n != 1 {
			t.Errorf("refused call %d reached the API %d times, want 1 (no replay)", i, n)
		}
	}

	// Other calls keep the fresh token, with no refresh.
	before := e.Grants.Load()
	for i := 0; i < 3; i++ {
		got := browsertest.Eval[struct{ Status int }](tab, fmt.Sprintf(`res(fetch("/api/ok", {method: "POST", body: "%d"}))`, i))
		if got.Status != http.StatusOK {
			t.Errorf("valid call %d: status %d", i, got.Status)
		}
	}
	if n := e.Grants.Load() - before; n != 0 {
		t.Errorf("valid calls after the refusals cost %d grants, want 0", n)
	}
	oks := e.Backend.at("/api/ok")
	if len(oks) != 3 {
		t.Fatalf("%d valid calls reached the API, want 3", len(oks))
	}
	replayed := e.Backend.at("/api/aud/0")[1].Auth
	for _, h := range oks {
		if h.Auth != replayed {
			t.Errorf("a valid call carried another token than the refreshed one")
		}
		e.checkToken(h.Auth)
	}
}
