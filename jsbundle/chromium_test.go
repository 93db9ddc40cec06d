package jsbundle

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// chromium returns the browser binary, skipping (or failing when CI=true)
// if it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	return testenv.NeedCommand(t, "/usr/lib/chromium/chromium", "chromium")
}

// TestXHRReplayInChromium checks, in a real browser, the part of the hook
// that depends on event-listener order: an XHR whose token is rejected is
// refreshed and re-sent, and listeners the app registered even before open()
// never see the 401. (Chromium calls target listeners in registration order;
// the hook registers its own in the XMLHttpRequest constructor.) The fuller
// browser suite lives in server/e2e.
func TestXHRReplayInChromium(t *testing.T) {
	bin := chromium(t)
	b := build(t)
	var (
		mu     sync.Mutex
		tokens int
		seen   []string
	)
	mux := http.NewServeMux()
	mux.Handle("/_tokenhook/", b.Handler())
	mux.HandleFunc("/_tokenhook/token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens++
		n := tokens
		mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `{"access_token":"t%d","token_type":"Bearer","expires_at":%d}`, n, time.Now().Add(time.Hour).Unix())
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer t1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok:"+string(body))
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>wait</title><script src="`+b.HashedPath()+`" integrity="`+b.SRI()+`" crossorigin="anonymous"></script><script>
const out = [];
TokenHook.getToken().then(() => {
  const x = new XMLHttpRequest();
  x.onreadystatechange = () => out.push("rs" + x.readyState + ":" + x.status);
  x.addEventListener("load", () => out.push("load:" + x.status));
  x.open("POST", "/api");
  x.onload = () => { out.push("onload:" + x.status + ":" + x.responseText); document.title = "done " + out.join(","); };
  x.send("payload");
});
</script>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+tmp, "--virtual-time-budget=5000", "--dump-dom", srv.URL+"/")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := regexp.MustCompile(`<title>([^<]*)</title>`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no title in the page:\n%s", out)
	}
	if got, want := html.UnescapeString(string(m[1])), "done rs1:0,rs2:200,rs3:200,rs4:200,load:200,onload:200:ok:payload"; got != want {
		t.Errorf("the app saw\n %s\nwant\n %s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"Bearer t1 payload", "Bearer t2 payload"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("backend saw %q, want %q", seen, want)
	}
	if tokens != 2 {
		t.Errorf("%d token requests, want 2", tokens)
	}
}
