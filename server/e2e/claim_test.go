package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// channelJS is what a page needs to open a rendezvous channel by hand:
// b64(bytes) is unpadded base64url, rand(n) n random bytes in it.
const channelJS = `function b64(d) { return btoa(String.fromCharCode.apply(null, new Uint8Array(d))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
function rand(n) { return b64(crypto.getRandomValues(new Uint8Array(n))); }`

// claimPage is a page without the hook that claims sign-ins by hand.
const claimPage = `<!doctype html><html><head><meta charset="utf-8"><title>claims</title><script>
` + channelJS + `
function prepare() {
  window.secret = rand(32); window.channel = rand(18);
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(window.secret)).then(function (d) {
    window.challenge = b64(d);
    return location.origin + "/_tokenhook/login?popup=1&channel=" + window.channel + "&challenge=" + window.challenge;
  });
}
function claim(channel, secret) {
  return fetch("/_tokenhook/claim", {method: "POST", headers: {"X-TokenHook": "1", "Content-Type": "application/json"},
    body: JSON.stringify({channel: channel, secret: secret})})
    .then(function (r) { return r.json().then(function (j) { return {status: r.status, error: j.error || j.status || ""}; }); });
}
</script></head><body>claims</body></html>`

// claimResult is what the page saw for one claim.
type claimResult struct {
	Status int
	Error  string
}

// TestClaimInBrowser: the rendezvous as the browser sees it, with the sign-in
// finished in another browser (a separate browser context opening the same
// popup URL, as Tableau Desktop's system browser does). That window has no
// opener, so it asks the viewer to compare the code the frame shows; once
// confirmed, a malformed claim is refused as invalid_request, a wrong secret
// as invalid_grant, the right secret collects a working session once, and a
// replayed claim is refused.
func TestClaimInBrowser(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.Mux.HandleFunc("GET /claims", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(claimPage))
	})
	tab := browser.Tab(t)
	tab.Navigate(e.Origin + "/claims")
	popupURL := browsertest.Eval[string](tab, `prepare()`)
	if strings.Contains(popupURL, browsertest.Eval[string](tab, `window.secret`)) {
		t.Fatal("the popup URL carries the secret")
	}

	other := browser.Tab(t) // another browser: its own cookies, no opener
	other.Navigate(popupURL)
	e.loginInPopup(other)
	waitAcrossLoads(t, other, `/^Signed in/.test(document.title)`)
	want := rendezvous.ShortCode(browsertest.Eval[string](tab, `window.challenge`))
	if got := browsertest.Eval[string](other, `document.getElementById("short").textContent`); got != want {
		t.Fatalf("the sign-in window shows the code %q, want the frame's %q", got, want)
	}
	if _, err := chromedp.RunResponse(other.Context(), chromedp.Click(chromedp.CSS(`button[value=yes]`))); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if txt := browsertest.Eval[string](other, `document.body.innerText`); !strings.Contains(txt, "Return to the dashboard") {
		t.Errorf("after confirming the sign-in window says %q, want it to send the viewer back to the dashboard", txt)
	}

	tests := []struct {
		name, channel, secret string
		want                  claimResult
	}{
		{"malformed", `"short"`, `window.secret`, claimResult{http.StatusBadRequest, "invalid_request"}},
		{"wrong secret", `window.channel`, `rand(32)`, claimResult{http.StatusForbidden, "invalid_grant"}},
		{"the right secret", `window.channel`, `window.secret`, claimResult{http.StatusOK, "signed_in"}},
		{"replayed", `window.channel`, `window.secret`, claimResult{http.StatusConflict, "invalid_grant"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := browsertest.Eval[claimResult](tab, `claim(`+tc.channel+`, `+tc.secret+`)`)
			if got != tc.want {
				t.Errorf("claim = %+v, want %+v", got, tc.want)
			}
		})
	}

	// The claim left a session in this browser: the token endpoint answers.
	tok := browsertest.Eval[string](tab, `fetch("`+server.Prefix+`token", {headers: {"X-TokenHook": "1"}}).then(function (r) { return r.json(); }).then(function (j) { return j.access_token || ""; })`)
	e.checkToken("Bearer " + tok)
	if strings.Contains(browsertest.Eval[string](other, `document.documentElement.outerHTML`), tok) {
		t.Error("the popup page carries the token")
	}
}

// TestSignOut: TokenHook.signOut() ends the server session (the token
// endpoint then answers login_required), forgets the token and emits
// signedout; a framed page stays where it is.
func TestSignOut(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	tab := e.signedInTab(t, "/dash")
	if tok := browsertest.Eval[string](tab, `TokenHook.getToken()`); tok == "" {
		t.Fatal("no token after sign-in")
	}
	out := browsertest.Eval[bool](tab, `new Promise(function (resolve) {
		TokenHook.on("signedout", function () { resolve(true); });
		TokenHook.signOut();
	})`)
	if !out {
		t.Fatal("signedout did not fire")
	}
	if e.Tokens.count(server.Prefix+"logout") != 1 {
		t.Errorf("%d logout requests, want 1", e.Tokens.count(server.Prefix+"logout"))
	}
	// Wherever the provider's logout took the tab, the session is gone.
	tab.Navigate(e.Origin + "/dash")
	st := browsertest.Eval[int](tab, `fetch("`+server.Prefix+`token", {headers: {"X-TokenHook": "1"}}).then(function (r) { return r.status; })`)
	if st != http.StatusUnauthorized {
		t.Errorf("after signOut the token endpoint answers %d, want 401", st)
	}
}
