// Command tokenhook-demo runs tokenhook's one-command demo: a real OpenID
// provider (Dex, in-process), a small dashboard app and tokenhook in front of
// it, all on one port. It is a separate command so that the product binary,
// cmd/tokenhook, links neither Dex nor its dependencies.
//
//	go run ./cmd/tokenhook-demo [-addr 127.0.0.1:4180] [-v]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenhook/tokenhook/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the demo, prints where to go and serves until ctx ends; it
// returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	err := demo.Run(ctx, demo.Options{Addr: *addr, Logger: logger, Ready: func(url string) { demo.Banner(stdout, url) }})
	if err != nil {
		fmt.Fprintf(stderr, "tokenhook-demo: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "tokenhook demo stopped")
	return 0
}
