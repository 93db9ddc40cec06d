package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/config"
)

// TestPrintedCommandSignsIn runs devidp, takes the `tokenhook serve` command
// it prints (as the examples' READMEs tell users to), starts tokenhook with
// exactly those flags and signs the printed user in through it.
func TestPrintedCommandSignsIn(t *testing.T) {
	thLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	thURL := "http://" + thLn.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.LogBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--tokenhook-url", thURL}, out, func(iss string) { ready <- iss })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devidp: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("devidp stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("devidp did not start")
	}

	args := serveArgs(t, out.String())
	opts, err := config.Load(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("tokenhook rejects the printed flags %q: %v", args, err)
	}
	cfg := opts.Server
	if cfg.PublicURL != "" && cfg.PublicURL != thURL || opts.Addr != thLn.Addr().String() {
		t.Fatalf("printed command serves %s (public %q), want %s", opts.Addr, cfg.PublicURL, thURL)
	}
	cfg.PublicURL = thURL
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, thLn) }()
	t.Cleanup(func() { cancel(); <-served })

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	var resp *http.Response
	for i := 0; i < 100; i++ { // until tokenhook has discovered the provider
		resp, err = idptest.Login(ctx, c, thURL+"/_tokenhook/login?rd=%2F", "demo@example.com", "demo",
			func(u *url.URL) bool {
				return strings.HasPrefix(u.String(), thURL) && !strings.HasPrefix(u.Path, "/_tokenhook/")
			})
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("sign in with the printed user: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-in ended with %d Location %q, want a redirect to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	ui, err := c.Get(thURL + "/_tokenhook/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(ui.Body)
	ui.Body.Close()
	if ui.StatusCode != 200 || !strings.Contains(string(b), `"demo@example.com"`) || !strings.Contains(string(b), `"analysts"`) {
		t.Errorf("userinfo %d %s, want the demo user with the analysts group", ui.StatusCode, b)
	}
}

// serveArgs extracts the flags of the printed `tokenhook serve` command,
// with a real cookie secret in place of the $(openssl …) substitution.
func serveArgs(t *testing.T, printed string) []string {
	t.Helper()
	_, after, ok := strings.Cut(printed, "go run ./cmd/tokenhook serve")
	if !ok {
		t.Fatalf("no serve command in:\n%s", printed)
	}
	cmd, _, _ := strings.Cut(after, "\n\n")
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	cmd = strings.ReplaceAll(cmd, `"$(openssl rand -base64 32)"`, "0123456789abcdef0123456789abcdef-test")
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range cmd {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case (r == ' ' || r == '\n') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // substring of the error; "" = no error
	}{
		{"defaults", nil, ""},
		{"short token lifetime", []string{"--token-ttl", "1s"}, "at least 10s"},
		{"stray argument", []string{"serve"}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.args, io.Discard)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("parse(%q) = %v, want %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestRefusesPublicAddress(t *testing.T) {
	err := run(context.Background(), []string{"--addr", "0.0.0.0:0"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("run on 0.0.0.0 = %v, want a loopback error", err)
	}
}
