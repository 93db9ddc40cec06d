package e2e_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// TestLoginRequiredNavigates: a viewer without a session opens the dashboard;
// its first POST sends no token and takes the top-level page to the sign-in
// page, which brings the viewer back to the same path and query, signed in.
func TestLoginRequiredNavigates(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	tab := browser.Tab(t)
	tab.Navigate(e.Origin + "/dash?view=sales#top")

	if _, err := chromedp.RunResponse(tab.Context(),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`fetch("/api/anonymous", {method: "POST", body: "x"}).catch(() => null), true`)(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("no navigation to the sign-in page: %v", err)
	}
	loc := browsertest.Eval[string](tab, `location.href`)
	if !strings.HasPrefix(loc, e.Issuer+"/") {
		t.Fatalf("after a POST without a session the page is at %s, want the provider's login page under %s", loc, e.Issuer)
	}
	for _, h := range e.Backend.at("/api/anonymous") {
		if h.Auth != "" {
			t.Errorf("a request without a session carried Authorization %q", h.Auth)
		}
	}

	if err := tab.SubmitLogin(e.email, e.password); err != nil {
		t.Fatalf("submit the login form: %v", err)
	}
	if got, want := browsertest.Eval[string](tab, `location.href`), e.Origin+"/dash?view=sales#top"; got != want {
		t.Fatalf("after sign-in the page is at %s, want %s", got, want)
	}
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "signed in now", js: post("/api/after", "y", ""), path: "/api/after", body: "y", auth: "token"},
	})
}

// TestLoginRequiredInFrame: a page inside a frame never navigates itself to
// the provider (sign-in pages refuse framing); it emits loginrequired.
func TestLoginRequiredInFrame(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	e.Mux.HandleFunc("GET /host", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>host</title><iframe id="f" src="/dash"></iframe>`)
	})
	tab := browser.Tab(t)
	tab.Navigate(e.Origin + "/host")
	tab.WaitFor(`(function () {
		var w = document.getElementById("f").contentWindow;
		return w && w.TokenHook && w.document.readyState === "complete";
	})()`)

	got := browsertest.Eval[map[string]any](tab, `(function () {
		var w = document.getElementById("f").contentWindow;
		var fired = new Promise(function (resolve) { w.TokenHook.on("loginrequired", function () { resolve(true); }); });
		var status = w.fetch("/api/framed", {method: "POST", body: "z"}).then(function (r) { return r.status; }, function () { return -1; });
		return Promise.all([fired, status]).then(function (v) {
			return new Promise(function (r) { setTimeout(r, 300); }).then(function () {
				return {fired: v[0], status: v[1], top: location.pathname, frame: w.location.pathname};
			});
		});
	})()`)
	if got["fired"] != true {
		t.Errorf("loginrequired did not fire: %v", got)
	}
	if got["top"] != "/host" || got["frame"] != "/dash" {
		t.Errorf("after login_required the top page is at %v and the frame at %v, want both to stay", got["top"], got["frame"])
	}
	for _, h := range e.Backend.at("/api/framed") {
		if h.Auth != "" {
			t.Errorf("a request without a session carried Authorization %q", h.Auth)
		}
	}
}
