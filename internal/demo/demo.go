// Package demo runs tokenhook's one-command demo: a real OpenID provider
// (Dex, in-process, mounted under /dex/), a small dashboard app of our own,
// and tokenhook in front of it, all on one port.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/internal/graceful"
	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/verify"
)

// The demo user.
const (
	DemoEmail    = "demo@example.com"
	DemoPassword = "demo"
)

// Options configures the demo.
type Options struct {
	// Addr is where the demo listens (default 127.0.0.1:4180).
	Addr string
	// TokenTTL is the access token lifetime (default 60s, so refreshes show).
	TokenTTL time.Duration
	// Logger receives tokenhook's logs (default: discarded).
	Logger *slog.Logger
	// Ready, when set, is called with the public URL once the demo serves.
	Ready func(url string)
}

// Run starts the demo and serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:4180"
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := server.Listen(o.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	publicURL := "http://" + ln.Addr().String()
	if host, port, _ := net.SplitHostPort(ln.Addr().String()); host == "127.0.0.1" || host == "::1" || host == "0.0.0.0" {
		publicURL = "http://127.0.0.1:" + port
	}
	issuer := publicURL + "/dex"
	clientSecret := random()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	provider, err := idp.New(ctx, idp.Options{
		Issuer: issuer, TokenTTL: o.TokenTTL,
		Users: []idp.User{{Email: DemoEmail, Password: DemoPassword, Name: "Demo Viewer", Groups: []string{"analysts"}}},
		Clients: []idp.Client{{ID: "tokenhook-demo", Secret: clientSecret,
			RedirectURIs: []string{publicURL + server.Prefix + "callback"}, PostLogoutRedirectURIs: []string{publicURL + "/"}}},
	})
	if err != nil {
		return err
	}
	defer provider.Close()

	// The dashboard app, reachable only through tokenhook.
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo app: %w", err)
	}

	// Serve first: tokenhook discovers the provider through this listener.
	var th atomic.Pointer[server.Server]
	mux := http.NewServeMux()
	mux.Handle("/dex/", provider)
	mux.HandleFunc("GET /portal", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(portalHTML)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s := th.Load(); s != nil {
			s.Handler().ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	served := make(chan error, 1)
	go func() { served <- graceful.Serve(ctx, hs, ln, 5*time.Second) }()

	srv, err := server.New(ctx, server.Config{
		PublicURL: publicURL, Issuer: issuer,
		ClientID: "tokenhook-demo", ClientSecret: clientSecret,
		// Dex puts groups into tokens only when the groups scope is asked for.
		Scopes:       []string{"openid", "email", "profile", "groups", "offline_access"},
		Upstream:     "http://" + appLn.Addr().String(),
		CookieSecret: []byte(random() + random()),
		// Refresh 20 s before expiry at most (a third of 60 s).
		RefreshSkew: 20 * time.Second,
	}, o.Logger)
	if err != nil {
		hs.Close()
		return err
	}
	v, err := verify.New(ctx, verify.Config{Issuer: issuer, Audience: "tokenhook-demo", HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		hs.Close()
		return fmt.Errorf("demo app: %w", err)
	}
	appSrv := &http.Server{Handler: App(v), ReadHeaderTimeout: 10 * time.Second}
	go appSrv.Serve(appLn)
	defer appSrv.Close()
	th.Store(srv)
	if o.Ready != nil {
		o.Ready(publicURL)
	}
	return <-served
}

// Banner is what the demo prints once it runs.
func Banner(w io.Writer, url string) {
	fmt.Fprintf(w, `tokenhook demo is running.

  Open      %s/
  Sign in   %s / %s
  Embedded  %s/portal (the dashboard in a cross-site iframe)

Press Ctrl-C to stop.
`, url, DemoEmail, DemoPassword, strings.Replace(url, "127.0.0.1", "localhost", 1))
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Main is the tokenhook-demo command: it parses args (-addr, -v), runs the
// demo until ctx ends and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenhook-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4180", "listen address")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	err := Run(ctx, Options{Addr: *addr, Logger: logger, Ready: func(url string) { Banner(stdout, url) }})
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook-demo: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "tokenhook demo stopped")
	return 0
}
