// Package shinypython_test runs the Shiny for Python example (app.py, real
// Shiny) behind a real tokenhook and drives it in real Chromium: the verified
// viewer, a click that round-trips over the WebSocket, get_user_token in a
// render function, a file upload (an HTTP POST, which tokenhook lets through
// only with the viewer's bearer), and the page reconnecting after tokenhook
// restarts.
package shinypython_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestShinyPythonApp(t *testing.T) {
	e, tab, _ := exampletest.RunApp(t, browser, exampletest.App{
		Modules: []string{"shiny"}, Health: "/", SignIn: "/",
		Args: []string{"-m", "shiny", "run", "app.py", "--host", "$HOST", "--port", "$PORT"},
	})
	e.CheckSignedInApp(t, tab, "")
	t.Run("a file upload carries the bearer", func(t *testing.T) {
		// Without a bearer, tokenhook refuses a POST (401): the upload below
		// only arrives because tokenhook's script added the viewer's token.
		resp, err := e.SignedInClient().Post(e.URL+"/session/0/upload/0?w=", "application/octet-stream", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a POST with the session but no bearer answered %d, want 401", resp.StatusCode)
		}
		path := filepath.Join(t.TempDir(), "sales.csv")
		if err := os.WriteFile(path, []byte("region,amount\nnorth,10\nsouth,20\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tab.Do(chromedp.SetUploadFiles(chromedp.CSS(`#upload`), []string{path}))
		exampletest.WaitText(t, tab, "uploaded", "Uploaded sales.csv: 32 bytes, 3 lines")
		exampletest.WaitPageText(t, tab, "Upload complete")
		time.Sleep(500 * time.Millisecond) // the progress bar's transition
		exampletest.Screenshot(t, tab, "screenshot.png")
	})
	e.CheckReconnect(t, tab)
}
