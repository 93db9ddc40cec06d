package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// python3 returns Debian's Python (which sees Debian's packages), or skips the
// test on a machine without it (failing it in CI).
func python3(t *testing.T) string { return testenv.NeedCommand(t, "/usr/bin/python3", "python3") }

// TestPythonCredentialsHelper runs examples/credentials/tokenhook_credentials.py
// against the real server: the assertion the proxy forwards is exchanged for
// the viewer's token of the linked connection.
func TestPythonCredentialsHelper(t *testing.T) {
	py := python3(t)
	// The upstream app records the assertion tokenhook forwards with a page
	// request; the helper then exchanges exactly that.
	received := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case received <- r.Header.Get(SessionHeader):
		default:
		}
		w.Write([]byte("report"))
	}))
	defer app.Close()
	d := newDataEnvWith(t, func(c *Config) { c.Upstream = app.URL })
	c := testenv.NewClient()
	d.signIn(c, users[2], "/")
	d.connect(t, c)
	req, _ := http.NewRequest("GET", d.url+"/report", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("page through the proxy: %v %v", resp, err)
	}
	resp.Body.Close()
	assertion := <-received
	if assertion == "" {
		t.Fatal("the upstream received no session assertion")
	}
	script := filepath.Join("..", "examples", "credentials", "tokenhook_credentials.py")

	run := func(connection, secret string) (map[string]string, int) {
		cmd := exec.Command(py, script, connection)
		cmd.Env = append(os.Environ(), "X_TOKENHOOK_SESSION="+assertion, "TOKENHOOK_URL="+d.url, "TOKENHOOK_EXCHANGE_SECRET="+secret)
		out, err := cmd.Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("helper printed %q (stderr %v)", out, err)
		}
		return m, code
	}
	m, code := run("data", exchangeSecret)
	if code != 0 || m["access_token"] == "" {
		t.Fatalf("helper: exit %d %v", code, m)
	}
	if st := d.userinfo(t, m["access_token"]); st != 200 {
		t.Fatalf("the helper's token is rejected by the data provider: %d", st)
	}
	if m, code := run("other", exchangeSecret); code != 3 || m["connect_url"] == "" {
		t.Fatalf("unlinked connection: exit %d %v", code, m)
	}
	if m, code := run("data", "wrong"); code != 2 || m["error"] != "invalid_client" {
		t.Fatalf("wrong secret: exit %d %v", code, m)
	}
}

// TestRCredentialsHelperParses checks the R helper is valid R (running it
// needs the curl R package, which the Shiny example does not).
func TestRCredentialsHelperParses(t *testing.T) {
	rscript := testenv.NeedCommand(t, "Rscript") // Debian r-cran-shiny brings it
	script := filepath.Join("..", "examples", "credentials", "tokenhook_credentials.R")
	out, err := exec.Command(rscript, "-e", `e <- new.env(); sys.source("`+script+`", envir = e); stopifnot(is.function(e$get_user_token)); cat("ok")`).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("R helper: %v\n%s", err, out)
	}
}
