package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

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
