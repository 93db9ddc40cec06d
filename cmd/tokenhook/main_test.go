package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tokenhook.yaml")
	os.WriteFile(cfgFile, []byte("issuer: https://idp.example\nclient-id: from-file\nbogus: 1\n"), 0o600)
	base := []string{"--issuer", "https://idp.example", "--client-id", "c", "--client-secret", "s", "--cookie-secret", strings.Repeat("x", 32)}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no issuer", []string{"--client-id", "c"}, nil, "--issuer (TOKENHOOK_ISSUER): required"},
		{"no client id", []string{"--issuer", "https://idp.example"}, nil, "--client-id (TOKENHOOK_CLIENT_ID): required"},
		{"short cookie secret", append(base[:6:6], "--cookie-secret", "short"), nil, "--cookie-secret (TOKENHOOK_COOKIE_SECRET): must be at least 32 bytes"},
		{"bad public url", append(base, "--public-url", "ftp://x"), nil, "--public-url (TOKENHOOK_PUBLIC_URL)"},
		{"bad duration from env", base, map[string]string{"TOKENHOOK_SESSION_TTL": "forever"}, "--session-ttl (TOKENHOOK_SESSION_TTL)"},
		{"unknown key in file", append(base, "--config", cfgFile), nil, `unknown key "bogus"`},
		{"missing secret file", append(base[:6:6], "--cookie-secret-file", filepath.Join(dir, "nope")), nil, "--cookie-secret-file (TOKENHOOK_COOKIE_SECRET_FILE): cannot read"},
		{"both issuer and auth url", append(base, "--auth-url", "https://idp.example/a"), nil, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(context.Background(), append([]string{"serve"}, tc.args...), getenv, &out, &errb)
			msg := errb.String()
			if code != 2 || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, msg, tc.want)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 || strings.Contains(msg, "goroutine") {
				t.Fatalf("want one line, got %q", msg)
			}
		})
	}
}

// busyAddr returns an address that another listener holds until the test
// ends.
func busyAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// serveOn runs "tokenhook serve" with args and a minimal valid
// configuration (no environment) and returns its exit code and stderr.
func serveOn(args ...string) (int, string) {
	var out, errb bytes.Buffer
	full := append(append([]string{"serve"}, args...), "--issuer", "https://idp.example", "--client-id", "c", "--client-secret", "s",
		"--cookie-secret", strings.Repeat("x", 32), "--data-dir", "")
	code := run(context.Background(), full, func(string) string { return "" }, &out, &errb)
	return code, errb.String()
}

func TestBusyPort(t *testing.T) {
	addr := busyAddr(t)
	if code, errb := serveOn("--addr", addr); code != 1 || !strings.Contains(errb, "cannot listen on "+addr+": address already in use") {
		t.Fatalf("exit %d, %q", code, errb)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, os.Getenv, &out, &errb); code != 2 || !strings.Contains(errb.String(), "Usage") {
		t.Fatalf("no args: %d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"serve", "-h"}, func(string) string { return "" }, &out, &errb); code != 0 || !strings.Contains(out.String(), "TOKENHOOK_CLIENT_ID") {
		t.Fatalf("serve -h: %d %q", code, out.String())
	}
}

func TestBundleCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"bundle", "--out", dir}, os.Getenv, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	tag := strings.TrimSpace(out.String())
	files, _ := filepath.Glob(filepath.Join(dir, "tokenhook.*.js"))
	if len(files) != 1 {
		t.Fatalf("files written: %v", files)
	}
	name := filepath.Base(files[0])
	for _, want := range []string{`src="/_tokenhook/` + name + `"`, `integrity="sha384-`, `crossorigin="anonymous"`} {
		if !strings.Contains(tag, want) {
			t.Errorf("tag %q lacks %q", tag, want)
		}
	}
	if code := run(context.Background(), []string{"bundle"}, os.Getenv, &out, &errb); code != 2 {
		t.Fatalf("bundle without --out: exit %d", code)
	}
}

// TestBooleanFlagsInTheCLI: a bare boolean flag means true and never takes
// the next flag as its value: "--inject-script --addr X" reaches the listen
// step with X (here a busy port, so the command stops there).
func TestBooleanFlagsInTheCLI(t *testing.T) {
	addr := busyAddr(t)
	for _, args := range [][]string{
		{"--inject-script", "--addr", addr},
		{"--strip-authorization", "--inject-script=false", "--addr", addr},
		{"--inject-script=yes", "--strip-authorization=0", "--addr", addr},
	} {
		if code, errb := serveOn(args...); code != 1 || !strings.Contains(errb, "cannot listen on "+addr) {
			t.Errorf("%q: exit %d, %q; want the listen error for %s", args, code, errb, addr)
		}
	}
}

// TestSessionsRevokeCommand: "tokenhook sessions revoke" reads serve's
// settings, needs a subject or provider session, refuses the per-process
// stores, and ends sessions in a real Redis.
func TestSessionsRevokeCommand(t *testing.T) {
	base := []string{"--issuer", "https://idp.example", "--client-id", "c", "--client-secret", "s", "--cookie-secret", strings.Repeat("x", 32)}
	redisURL := func() string { return "redis://" + testenv.StartRedis(t).Addr(t) + "/0" }
	for _, tc := range []struct {
		name string
		args func() []string
		code int
		want string
	}{
		{"no subcommand", func() []string { return nil }, 2, "Usage: tokenhook sessions revoke"},
		{"nobody named", func() []string { return append([]string{"revoke"}, base...) }, 1, "name a subject"},
		{"file store", func() []string { return append([]string{"revoke", "--sub", "u1", "--data-dir", t.TempDir()}, base...) }, 1, "needs the Redis store"},
		{"missing value", func() []string { return []string{"revoke", "--sid"} }, 2, "--sid needs a value"},
		{"redis", func() []string { return append([]string{"revoke", "--sub=u1", "--session-store", redisURL()}, base...) }, 0, "0 session(s) ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"sessions"}, tc.args()...), func(string) string { return "" }, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Fatalf("exit %d, out %q, err %q; want %d and %q", code, out.String(), errb.String(), tc.code, tc.want)
			}
		})
	}
}

// freeAddr returns a local address no one listens on (at the moment).
func freeAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// TestServeMetricsListener: serve --metrics-addr answers GET /metrics on that
// address only, and a busy metrics port is a clear start-up error.
func TestServeMetricsListener(t *testing.T) {
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	args := []string{"serve", "--addr", addr, "--issuer", "http://127.0.0.1:1/idp", "--client-id", "c", "--client-secret", "s",
		"--cookie-secret", strings.Repeat("x", 32), "--data-dir", "", "--metrics-addr", metricsAddr}
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer // read once run has returned
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, &errb) }()
	get := func(u string) (int, string) {
		for range 100 {
			resp, err := http.Get(u)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		<-done
		t.Fatalf("no answer from %s; stderr %s", u, errb.String())
		return 0, ""
	}
	if code, body := get("http://" + metricsAddr + "/metrics"); code != 200 || !strings.Contains(body, `tokenhook_provider_up{client="_signin"} 0`) {
		t.Fatalf("metrics listener: %d %.300s", code, body)
	}
	if code, body := get("http://" + addr + "/metrics"); strings.Contains(body, "tokenhook_") {
		t.Fatalf("the public listener served metrics: %d", code)
	}
	if code, _ := get("http://" + addr + "/_tokenhook/metrics"); code != 404 {
		t.Fatalf("public /_tokenhook/metrics: %d", code)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}

	args[len(args)-1] = busyAddr(t)
	args[2] = freeAddr(t)
	var out2, errb2 bytes.Buffer
	if code := run(context.Background(), args, func(string) string { return "" }, &out2, &errb2); code != 1 || !strings.Contains(errb2.String(), "--metrics-addr") {
		t.Fatalf("busy metrics port: exit %d, %q", code, errb2.String())
	}
}
