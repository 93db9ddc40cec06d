// Command tokenhook-demo runs tokenhook's one-command demo: a real OpenID
// provider (Dex, in-process), a small dashboard app and tokenhook in front of
// it, all on one port. It is a separate command so that the product binary,
// cmd/tokenhook, links neither Dex nor its dependencies.
//
//	go run ./cmd/tokenhook-demo [-addr 127.0.0.1:4180] [-v]
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenhook/tokenhook/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
