package browsertest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// site serves a few small pages the tests drive.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	// Browsers ask for a favicon on their own; a 404 would be a console error.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>page</title><p id="p">hello</p>
<script>setTimeout(() => { document.title = "ready" }, 50)</script>`)
	})
	mux.HandleFunc("GET /errors", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><script>console.error("logged error 1"); console.log("plain");
setTimeout(() => { throw new Error("thrown error 2") }, 0)</script>`)
	})
	mux.HandleFunc("GET /setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "who", Value: "first-tab", Path: "/"})
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("who")
		if err != nil {
			fmt.Fprint(w, "none")
			return
		}
		fmt.Fprint(w, c.Value)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestEvalAndWaitFor(t *testing.T) {
	srv := site(t)
	tab := browser.Tab(t)
	tab.Navigate(srv.URL + "/page")
	tab.WaitFor(`document.title === "ready"`)

	tests := []struct {
		name, expr, want string
	}{
		{"dom", `document.getElementById("p").textContent`, "hello"},
		{"promise", `fetch("/cookie").then(r => r.text())`, "none"},
		{"origin", `location.origin`, srv.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := browsertest.Eval[string](tab, tt.expr); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}

	_, err := browsertest.EvalErr[string](tab, `Promise.reject(new Error("nope"))`)
	var exc *chromedp.ExceptionError
	if !errors.As(err, &exc) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("rejected promise: err = %v, want an ExceptionError mentioning nope", err)
	}
}

func TestConsoleErrors(t *testing.T) {
	srv := site(t)
	tab := browser.Tab(t)
	tab.Navigate(srv.URL + "/errors")
	tab.WaitFor(`true`) // let the timer throw
	var errs []string
	for range 100 {
		if errs = tab.Errors(); len(errs) >= 2 {
			break
		}
		browsertest.Eval[bool](tab, `new Promise(r => setTimeout(() => r(true), 20))`)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "logged error 1") || !strings.Contains(errs[1], "thrown error 2") {
		t.Fatalf("Errors() = %q, want the console.error and the uncaught exception", errs)
	}
	if !slices.ContainsFunc(tab.Console(), func(m chromedp.ConsoleMessage) bool { return m.Text == "plain" }) {
		t.Errorf("Console() lacks the console.log message: %v", tab.Console())
	}
}

func TestTabsDoNotShareCookies(t *testing.T) {
	srv := site(t)
	first := browser.Tab(t)
	first.Navigate(srv.URL + "/setcookie")
	if got := browsertest.Eval[string](first, `fetch("/cookie").then(r => r.text())`); got != "first-tab" {
		t.Fatalf("first tab cookie = %q, want first-tab", got)
	}
	second := browser.Tab(t)
	second.Navigate(srv.URL + "/page")
	if got := browsertest.Eval[string](second, `fetch("/cookie").then(r => r.text())`); got != "none" {
		t.Errorf("second tab sees cookie %q, want none (separate browser contexts)", got)
	}
}

func TestPopup(t *testing.T) {
	srv := site(t)
	tab := browser.Tab(t)
	tab.Navigate(srv.URL + "/page")
	popup := tab.Popup(func() {
		browsertest.Eval[bool](tab, `!!window.open("/page", "popup", "popup")`)
	})
	popup.WaitFor(`document.title === "ready"`)
	if got := browsertest.Eval[string](popup, `location.pathname`); got != "/page" {
		t.Errorf("popup location = %q, want /page", got)
	}
	if got := browsertest.Eval[bool](popup, `window.opener !== null && window.opener.location.origin === location.origin`); !got {
		t.Error("popup has no same-origin opener")
	}
}

func TestFindExecPath(t *testing.T) {
	p, err := browsertest.FindExecPath()
	if errors.Is(err, browsertest.ErrNoBrowser) {
		testenv.Need(t, "chromium", err)
	}
	switch {
	case err != nil:
		t.Fatal(err)
	case p == "":
		t.Fatal("FindExecPath returned an empty path and no error")
	}
}
