package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// received is one request the example app got from tokenhook.
type received struct {
	method, path, body string
	header             http.Header
}

// recorder wraps the example app and keeps the requests it received.
type recorder struct {
	mu   sync.Mutex
	reqs []received
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, received{r.Method, r.URL.Path, string(b), r.Header.Clone()})
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// echoes returns the POSTs to /api/echo whose body names via.
func (rec *recorder) echoes(via string) []received {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []received
	for _, r := range rec.reqs {
		if r.method == http.MethodPost && r.path == "/api/echo" && strings.Contains(r.body, `"via":"`+via+`"`) {
			out = append(out, r)
		}
	}
	return out
}

// TestPlainPage: a viewer opens the page behind tokenhook in real Chromium,
// signs in at the provider's login page, and presses the buttons; the app
// receives each POST with a valid bearer token of that viewer and
// tokenhook's identity headers.
func TestPlainPage(t *testing.T) {
	e := exampletest.New(t)
	rec := &recorder{}
	app := httptest.NewServer(rec.wrap(newHandler()))
	defer app.Close()
	e.Serve(app.URL)

	tab := browser.Tab(t)
	// Opening the page without a session leads to the provider's login page.
	tab.Navigate(e.URL + "/")
	e.SubmitLoginForm(tab)
	if got := browsertest.Eval[string](tab, `location.href`); got != e.URL+"/" {
		t.Fatalf("after sign-in the browser is at %s, want the page %s/", got, e.URL)
	}
	tab.WaitFor(`document.getElementById("user").textContent === ` + jsString(e.Email))

	steps := []struct {
		via    string
		action chromedp.Action[chromedp.Void]
	}{
		{"fetch", chromedp.Click(chromedp.CSS("#fetch"))},
		{"xhr", chromedp.Click(chromedp.CSS("#xhr"))},
		{"form", chromedp.Click(chromedp.CSS(`#form button[type="submit"]`))},
	}
	for _, s := range steps {
		t.Run(s.via, func(t *testing.T) {
			tab.Do(s.action)
			// The page shows the app's answer: 200 with a bearer.
			tab.WaitFor(`(function(){ var t = document.getElementById("out").textContent;
				return t.indexOf("200\n") === 0 && t.indexOf('"via": "` + s.via + `"') > 0 && t.indexOf('"bearer": "present') > 0; })()`)
			got := rec.echoes(s.via)
			if len(got) != 1 {
				t.Fatalf("the app received %d POSTs via %s, want 1", len(got), s.via)
			}
			checkForwarded(t, e, got[0].header)
		})
	}

	t.Run("identity headers cannot be spoofed by the page", func(t *testing.T) {
		status := browsertest.Eval[int](tab, `fetch("/api/echo", {method: "POST",
			headers: {"Content-Type": "application/json", "X-Forwarded-Email": "mallory@example.com", "X-Forwarded-User": "mallory"},
			body: JSON.stringify({via: "spoof"})}).then(r => r.status)`)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		got := rec.echoes("spoof")
		if len(got) != 1 {
			t.Fatalf("the app received %d spoof POSTs, want 1", len(got))
		}
		checkForwarded(t, e, got[0].header)
	})

	t.Run("a POST without a token does not reach the app", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Post(e.URL+"/api/echo", "application/json", strings.NewReader(`{"via":"outsider"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("status %d, WWW-Authenticate %q; want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if n := len(rec.echoes("outsider")); n != 0 {
			t.Errorf("the app received %d unauthenticated POSTs", n)
		}
	})

	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// checkForwarded checks what tokenhook forwarded with a POST: a valid bearer
// of the viewer, the identity headers, and none of tokenhook's own cookies.
func checkForwarded(t *testing.T, e *exampletest.Env, h http.Header) {
	t.Helper()
	var claims exampletest.Claims
	e.CheckBearer(h.Get("Authorization"), &claims)
	want := map[string]string{
		"X-Forwarded-Email":              e.Email,
		"X-Forwarded-User":               claims.Subject,
		"X-Forwarded-Preferred-Username": e.Username,
		"X-Forwarded-Groups":             exampletest.Group,
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if c := h.Get("Cookie"); strings.Contains(c, "tokenhook") {
		t.Errorf("tokenhook's cookies were forwarded to the app: %q", c)
	}
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
