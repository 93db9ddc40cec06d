// Command tokenhook runs the tokenhook server.
//
//	tokenhook serve    sign-in, sessions, the token endpoint and the proxy
//	tokenhook bundle   write the browser script to a folder and print its tag
//	tokenhook sessions revoke --sub S | --sid S   end sessions on every replica (Redis store)
//	tokenhook version  print the version
//
// Run "tokenhook serve -h" for every setting. The demo is its own command,
// cmd/tokenhook-demo, so that this binary links no identity provider.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/tokenhook/tokenhook/jsbundle"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: tokenhook <command> [flags]

Commands:
  serve     run the server (sign-in, sessions, token endpoint, proxy)
  bundle    write tokenhook.<hash>.js to --out DIR and print its <script> tag
  sessions  revoke --sub S | --sid S [serve's flags]: end a viewer's sessions on every
            replica (Redis store; reads the same settings and environment as serve)
  version   print the version

Run "tokenhook <command> -h" for a command's flags.
`

// run is the whole program; it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "bundle":
		return bundle(args[1:], stdout, stderr)
	case "sessions":
		return sessions(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "tokenhook", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tokenhook: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// load reads the settings from args and the environment (config.Load). When
// it returns ok false the command ends with code: 0 after --help, 2 (the
// problem written to stderr) for settings that are not valid.
func load(args []string, getenv func(string) string, stdout, stderr io.Writer) (opts config.Options, code int, ok bool) {
	opts, err := config.Load(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return opts, 0, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return opts, 2, false
	}
	return opts, 0, true
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, code, ok := load(args, getenv, stdout, stderr)
	if !ok {
		return code
	}
	cfg := opts.Server
	logger := newLogger(stderr, opts.LogLevel, opts.LogFormat)
	ln, err := server.ListenFor(opts.Addr, opts.ReusePort, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 1
	}
	// The server's background work (provider discovery, key fetches) lives
	// until Serve has drained, not only until the signal.
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	srv, err := server.New(srvCtx, cfg, logger)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 2
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "tokenhook: --metrics-addr: %v\n", err)
			return 1
		}
		logger.Info("metrics listening", "addr", mln.Addr().String())
		go func() {
			if err := srv.ServeMetrics(srvCtx, mln); err != nil {
				logger.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	logger.Info("tokenhook listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "upstream", cfg.Upstream, "reuse_port", opts.ReusePort)
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 1
	}
	logger.Info("tokenhook stopped")
	return 0
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// bundle writes the hashed script to a folder, for hosting it elsewhere (a
// CDN, Dash's assets folder), and prints the script tag with its SRI value.
func bundle(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenhook bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder to write tokenhook.<hash>.js into (required)")
	base := fs.String("base-url", server.Prefix, "URL path or prefix the file will be served from")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" {
		fmt.Fprintln(stderr, "tokenhook: bundle: --out is required")
		return 2
	}
	b, err := jsbundle.Build()
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: bundle: %v\n", err)
		return 1
	}
	name, err := b.WriteFile(*out)
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: bundle: %v\n", err)
		return 1
	}
	src := strings.TrimSuffix(*base, "/") + "/" + filepath.Base(name)
	fmt.Fprintf(stderr, "wrote %s (%d bytes, %d gzipped)\n", name, len(b.Code()), len(b.Gzip()))
	fmt.Fprintln(stdout, b.ScriptTagSrc(src))
	return 0
}

// sessions runs "tokenhook sessions revoke --sub S | --sid S": it ends the
// named sessions in the shared Redis store and announces them, so every
// replica closes their WebSockets. The other flags are serve's (the store
// URL, its password and the cookie secret are read the same way).
func sessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "revoke" {
		fmt.Fprintln(stderr, "Usage: tokenhook sessions revoke --sub SUBJECT | --sid PROVIDER_SESSION [serve's flags]")
		return 2
	}
	var sid, sub string
	var rest []string
	for i := 1; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if name != "sub" && name != "sid" || !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "tokenhook: sessions revoke: --%s needs a value\n", name)
				return 2
			}
			i++
			val = args[i]
		}
		if name == "sub" {
			sub = val
		} else {
			sid = val
		}
	}
	opts, code, ok := load(rest, getenv, stdout, stderr)
	if !ok {
		return code
	}
	cfg := opts.Server
	n, err := server.RevokeSessions(ctx, cfg, sid, sub)
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 1
	}
	audit.New(newLogger(stderr, "info", opts.LogFormat), cmp.Or(cfg.Issuer, cfg.AuthURL)).Record(ctx, audit.SessionRevoked, sub, slog.Int("sessions", n), slog.Bool("by_sid", sid != ""))
	fmt.Fprintf(stdout, "%d session(s) ended\n", n)
	return 0
}
