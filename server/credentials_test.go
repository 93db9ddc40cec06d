package server

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// python3 returns Debian's Python (which sees Debian's packages), or skips the
// test on a machine without it (failing it in CI).
func python3(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 is required in CI")
	}
	t.Skip("python3 not installed")
	return ""
}

// TestPythonCredentialsHelper runs examples/credentials/tokenhook_credentials.py
// against the real server: the assertion the proxy forwards is exchanged for
// the viewer's token of the linked connection.
func TestPythonCredentialsHelper(t *testing.T) {
	py := python3(t)
	d := newDataEnv(t)
	c := newBrowser()
	d.signIn(c, users[2], "/")
	d.connect(t, c)
	assertion := d.assertion(t, c)
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
