// Command tokenhook runs the tokenhook server.
//
//	tokenhook serve    sign-in, sessions, the token endpoint and the proxy
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
	"runtime/debug"
	"syscall"

	"github.com/tokenhook/tokenhook/server"
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
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook: cannot listen on %s: %v\n", cfg.Addr, unwrapNetErr(err))
		return 1
	}
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 2
	}
	logger.Info("tokenhook listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "upstream", cfg.Upstream)
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "tokenhook: %v\n", err)
		return 1
	}
	logger.Info("tokenhook stopped")
	return 0
}

// unwrapNetErr turns "listen tcp 127.0.0.1:4180: bind: address already in use"
// into its last, readable part.
func unwrapNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
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
