// Package shiny_test runs the R Shiny example (Debian r-cran-shiny) behind a
// real tokenhook and checks in real Chromium that the page shows the
// signed-in viewer, which reaches R only through the WebSocket upgrade's
// forwarded identity headers.
package shiny_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

func TestShinyApp(t *testing.T) {
	out, err := exec.Command("Rscript", "-e", "library(shiny)").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	testenv.Need(t, "R with shiny (Debian r-cran-shiny)", err)

	e := exampletest.New(t)
	addr := testenv.FreeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	exampletest.Start(t, ".", nil, "Rscript", "-e",
		fmt.Sprintf(`shiny::runApp(".", host = %q, port = %s, launch.browser = FALSE)`, host, port))
	appURL := "http://" + addr
	testenv.WaitHTTP(t, appURL+"/", http.StatusOK, 60*time.Second)
	e.Serve(appURL)

	tab := browser.Tab(t)
	tab.Navigate(e.URL + "/")
	e.SubmitLoginForm(tab)
	if got := browsertest.Eval[string](tab, `location.href`); got != e.URL+"/" {
		t.Fatalf("after sign-in the browser is at %s, want %s/", got, e.URL)
	}
	tests := []struct{ id, want string }{
		{"email", e.Email},
		{"username", e.Username},
		{"groups", exampletest.Group},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := browsertest.WaitFor[string](tab, fmt.Sprintf(
				`(function(){ var el = document.getElementById(%q); return el && el.textContent === %q ? el.textContent : ""; })()`, tc.id, tc.want))
			if err != nil {
				now := browsertest.Eval[string](tab, fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || "(missing)"`, tc.id))
				t.Fatalf("#%s shows %q, want %q (%v)", tc.id, now, tc.want, err)
			}
			_ = got
		})
	}
	exampletest.Screenshot(t, tab, "screenshot.png")

	// The WebSocket the page opened above needed the session cookie and an
	// exact Origin; the same upgrade from elsewhere is refused.
	c := testenv.NewClient()
	e.SignIn(c)
	upgrades := []struct {
		name   string
		client *http.Client
		origin string
		want   int
	}{
		{"session and the public origin", c, e.URL, http.StatusSwitchingProtocols},
		{"session and another origin", c, "http://localhost" + strings.TrimPrefix(e.URL, "http://127.0.0.1"), http.StatusForbidden},
		{"session and no origin", c, "", http.StatusForbidden},
		{"no session", &http.Client{Timeout: 10 * time.Second}, e.URL, http.StatusUnauthorized},
	}
	for _, tc := range upgrades {
		t.Run("websocket upgrade: "+tc.name, func(t *testing.T) {
			if got := exampletest.Upgrade(t, tc.client, e.URL+"/websocket/", tc.origin, ""); got != tc.want {
				t.Errorf("upgrade answered %d, want %d", got, tc.want)
			}
		})
	}
}
