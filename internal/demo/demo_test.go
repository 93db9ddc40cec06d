package demo

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// startDemo runs the demo on a free port and returns its URL.
func startDemo(t *testing.T, ttl time.Duration) string {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", TokenTTL: ttl, Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo stopped with %v", err)
		}
	})
	select {
	case u := <-ready:
		return u
	case err := <-done:
		t.Fatalf("demo did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start within 30 s")
	}
	return ""
}

type answer struct {
	Subject        string `json:"subject"`
	Email          string `json:"email"`
	Header         string `json:"header"`
	Scheme         string `json:"scheme"`
	TokenExpiresAt int64  `json:"token_expires_at"`
	ForwardedEmail string `json:"forwarded_email"`
	Received       string `json:"received"`
}

// TestDemoInBrowser signs in through the embedded IdP's login page, presses
// the button, sees the validated answer, and presses again after the token
// lifetime has passed: the second call succeeds with a new token.
func TestDemoInBrowser(t *testing.T) {
	tab := browser.Tab(t)
	url := startDemo(t, 6*time.Second)
	tab.Navigate(url + "/")
	if err := tab.SubmitLogin(DemoEmail, DemoPassword); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	tab.WaitFor(`document.getElementById('user') && document.getElementById('user').textContent.includes('` + DemoEmail + `')`)

	click := func(prev int64) answer {
		t.Helper()
		tab.Do(chromedp.Click(chromedp.CSS(`#call`)))
		out := `document.getElementById('fetch-out')`
		tab.WaitFor(out + `.className === 'ok' && JSON.parse(` + out + `.textContent).token_expires_at > ` + strconv.FormatInt(prev, 10))
		return browsertest.Eval[answer](tab, `JSON.parse(document.getElementById('fetch-out').textContent)`)
	}
	first := click(0)
	if first.Email != DemoEmail || first.ForwardedEmail != DemoEmail || first.Header != "Authorization" || first.Scheme != "Bearer" || !strings.Contains(first.Received, `"click":1`) {
		t.Fatalf("first answer: %+v", first)
	}
	// Let the 6 s token expire, then press again: the page must still work.
	time.Sleep(time.Until(time.Unix(first.TokenExpiresAt, 0).Add(time.Second)))
	second := click(first.TokenExpiresAt)
	if second.Subject != first.Subject || !strings.Contains(second.Received, `"click":2`) {
		t.Fatalf("second answer: %+v", second)
	}
	// The XHR form too.
	tab.Do(chromedp.Click(chromedp.CSS(`#form button`)))
	tab.WaitFor(`document.getElementById('form-out').className === 'ok'`)
	if got := browsertest.Eval[answer](tab, `JSON.parse(document.getElementById('form-out').textContent)`); !strings.Contains(got.Received, "message=hello") {
		t.Fatalf("form answer: %+v", got)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}

func TestBusyPort(t *testing.T) {
	u := startDemo(t, time.Minute)
	err := Run(context.Background(), Options{Addr: strings.TrimPrefix(u, "http://")})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("second demo on a busy port: %v", err)
	}
}

// TestMainFlags: the command's flags end it cleanly (help) or with a usage
// error, before anything starts.
func TestMainFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-bogus"}, 2},
	} {
		var out, errb strings.Builder
		if code := Main(context.Background(), tc.args, &out, &errb); code != tc.code {
			t.Errorf("Main(%q) = %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
	}
}
