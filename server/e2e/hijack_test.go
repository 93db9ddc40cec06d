package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/server"
)

// attackerPage is another site's page that starts a popup sign-in on a
// channel it chose, with a secret it keeps, and records every message any
// window sends it.
const attackerPage = `<!doctype html><html><head><meta charset="utf-8"><title>attacker</title><script>
` + channelJS + `
window.got = [];
addEventListener("message", function (ev) { window.got.push({origin: ev.origin, data: JSON.stringify(ev.data)}); });
window.secret = rand(32);
window.channel = rand(18);
window.ready = crypto.subtle.digest("SHA-256", new TextEncoder().encode(window.secret)).then(function (d) {
  window.link = TOKENHOOK + "/_tokenhook/login?popup=1&channel=" + window.channel + "&challenge=" + b64(d);
  return window.link;
});
</script></head><body><button id="go" style="width:200px;height:60px" onclick="window.open(window.link, 'x', 'popup,width=520,height=680')">Win a prize</button></body></html>`

// attackerClaim is the attacker's claim from its own machine, with the
// secret its page chose: it must not collect the viewer's sign-in. A claim
// the server keeps waiting (the sign-in is not confirmed) is given up after
// a few seconds.
func attackerClaim(t *testing.T, e *env, channel, secret string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"channel": channel, "secret": secret})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.Origin+server.Prefix+"claim", bytes.NewReader(body))
	req.Header.Set("X-TokenHook", "1")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "no answer: " + err.Error()
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for _, c := range r.Cookies() {
		if strings.Contains(c.Name, "embed") {
			t.Errorf("the attacker's claim got the embed cookie %s", c.Name)
		}
	}
	return r.StatusCode, string(b)
}

// TestPopupHijackInBrowser (issue 10, defect 1): another site's page opens
// tokenhook's popup sign-in on a channel it chose; the viewer signs in at
// the provider's real form. The one-time code goes only to tokenhook's own
// origin, so the attacker's page receives nothing, and the attacker's claim
// with its secret does not get the viewer's session. The same with the
// attacker's link opened without an opener: the sign-in window asks the
// viewer to compare a code (which no dashboard of theirs shows), and until
// confirmed nothing can be claimed.
func TestPopupHijackInBrowser(t *testing.T) {
	e := newEnv(t, envOptions{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.Replace(attackerPage, "TOKENHOOK", `"`+e.Origin+`"`, 1))
	})
	evil := httptest.NewServer(mux)
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) + "/"

	t.Run("opened by the attacker's page", func(t *testing.T) {
		tab := browser.Tab(t)
		tab.Navigate(evilURL)
		browsertest.Eval[string](tab, `window.ready`)
		at := browsertest.Eval[[]float64](tab, `(function () { var r = document.getElementById("go").getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
		popup := tab.Popup(func() { tab.Do(chromedp.MouseClickXY(at[0], at[1])) })
		e.loginInPopup(popup)
		// The sign-in window gives its code to its opener only if that is
		// tokenhook's origin; it then closes (or shows "signed in").
		deadline := time.Now().Add(10 * time.Second)
		for popupOpen(t, tab, e) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := browsertest.Eval[[]map[string]string](tab, `window.got`); len(got) != 0 {
			t.Errorf("the attacker's page received %v", got)
		}
		channel, secret := browsertest.Eval[string](tab, `window.channel`), browsertest.Eval[string](tab, `window.secret`)
		if st, body := attackerClaim(t, e, channel, secret); st == http.StatusOK {
			t.Fatalf("the attacker collected the viewer's sign-in: %d %s", st, body)
		}
	})

	t.Run("the attacker's link, no opener", func(t *testing.T) {
		tab := browser.Tab(t)
		tab.Navigate(evilURL)
		link := browsertest.Eval[string](tab, `window.ready`)
		channel, secret := browsertest.Eval[string](tab, `window.channel`), browsertest.Eval[string](tab, `window.secret`)
		viewer := browser.Tab(t) // the viewer follows the link in a tab of their own
		viewer.Navigate(link)
		e.loginInPopup(viewer)
		waitAcrossLoads(t, viewer, `/^Signed in/.test(document.title)`)
		if vis := browsertest.Eval[bool](viewer, `!document.getElementById("confirm").hidden && /[A-Z2-9]{4}-[A-Z2-9]{4}/.test(document.getElementById("short").textContent)`); !vis {
			t.Fatalf("without an opener the sign-in window does not ask to compare a code: %s", browsertest.Eval[string](viewer, `document.body.innerText`))
		}
		if st, body := attackerClaim(t, e, channel, secret); st == http.StatusOK {
			t.Fatalf("the attacker collected the unconfirmed sign-in: %d %s", st, body)
		}
		// The viewer sees a code no dashboard of theirs shows and refuses.
		if _, err := chromedp.RunResponse(viewer.Context(), chromedp.Click(chromedp.CSS(`button[value=no]`))); err != nil {
			t.Fatalf("refuse: %v", err)
		}
		if txt := browsertest.Eval[string](viewer, `document.body.innerText`); !strings.Contains(txt, "Sign-in refused") {
			t.Errorf("after refusing the page says %q", txt)
		}
		if st, body := attackerClaim(t, e, channel, secret); st != http.StatusGone {
			t.Fatalf("the attacker's claim of a refused sign-in: %d %s, want 410", st, body)
		}
	})
}
