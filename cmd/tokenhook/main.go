// Command tokenhook runs the tokenhook server.
//
//	tokenhook demo     a real embedded IdP, a demo dashboard and tokenhook in front
//	tokenhook serve    sign-in, sessions, the token endpoint and the proxy
//	tokenhook bundle   write the browser script to a folder and print its tag
//	tokenhook version  print the version
//
// Run "tokenhook serve -h" for every setting.
package main

import (
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
	"github.com/tokenhook/tokenhook/server/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: tokenhook <command> [flags]

Commands:
  demo      run the demo: an embedded IdP, a demo dashboard, tokenhook in front
  serve     run the server (sign-in, sessions, token endpoint, proxy)
  bundle    write tokenhook.<hash>.js to --out DIR and print its <script> tag
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
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "bundle":
		return bundle(args[1:], stdout, stderr)
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

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := server.LoadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 2
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	ln, err := server.ListenFor(cfg, getenv)
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
	logger.Info("tokenhook listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "upstream", cfg.Upstream, "reuse_port", cfg.ReusePort)
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
	base := fs.String("base-url", "/_tokenhook/", "URL path or prefix the file will be served from")
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

// runDemo starts the one-command demo and prints where to go.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenhook demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4180", "listen address")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger := newLogger(stderr, "warn", "text")
	if *verbose {
		logger = newLogger(stderr, "info", "text")
	}
	err := demo.Run(ctx, demo.Options{Addr: *addr, Logger: logger, Ready: func(url string) { demo.Banner(stdout, url) }})
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: demo: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "tokenhook demo stopped")
	return 0
}
