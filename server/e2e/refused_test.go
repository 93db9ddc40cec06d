package e2e_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

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
