// Command devidp runs a local OpenID provider (Dex, in-process, memory
// storage; package internal/idp) for trying the examples without registering
// anything at a real identity provider. It knows one user and one OAuth
// client, and prints the `tokenhook serve` flags that use them.
//
//	go run ./examples/devidp
//
// It is for development only: the user's password and the client secret are
// printed, and it listens on loopback addresses only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devidp:", err)
		os.Exit(1)
	}
}

// options are devidp's settings.
type options struct {
	addr, publicURL, clientID, clientSecret, email, password string
	tokenTTL                                                 time.Duration
}

func parse(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:5556", "listen address (loopback only); the issuer is http://ADDR/dex")
	fs.StringVar(&o.publicURL, "tokenhook-url", "http://127.0.0.1:4180", "tokenhook's public URL (its /_tokenhook/callback is the allowed redirect URI)")
	fs.StringVar(&o.clientID, "client-id", "examples", "OAuth client id for tokenhook (also the tokens' audience)")
	fs.StringVar(&o.clientSecret, "client-secret", "examples-dev-secret", "OAuth client secret for tokenhook")
	fs.StringVar(&o.email, "email", "demo@example.com", "the user's email (login name)")
	fs.StringVar(&o.password, "password", "demo", "the user's password")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 5*time.Minute, "access token lifetime (short, so refreshes show)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.tokenTTL < 10*time.Second {
		return o, errors.New("--token-ttl must be at least 10s")
	}
	return o, nil
}

// run starts the provider and serves until ctx ends. ready, when set, gets
// the issuer URL once the provider accepts connections.
func run(ctx context.Context, args []string, out io.Writer, ready func(issuer string)) error {
	o, err := parse(args, out)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("--addr %s is not a loopback address: devidp is for local development only", o.addr)
	}
	issuer := "http://" + ln.Addr().String() + "/dex"
	p, err := idp.Start(ctx, idp.Options{
		Issuer: issuer, Listener: ln, TokenTTL: o.tokenTTL,
		Users: []idp.User{{Email: o.email, Password: o.password, Name: "Demo Viewer", Groups: []string{"analysts"}}},
		Clients: []idp.Client{{ID: o.clientID, Secret: o.clientSecret,
			RedirectURIs:           []string{o.publicURL + "/_tokenhook/callback"},
			PostLogoutRedirectURIs: []string{o.publicURL + "/"}}},
	})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(out, `devidp: OpenID provider for the examples (development only)

  issuer     %s
  sign in    %s / %s
  client     %s / %s (redirect URI %s/_tokenhook/callback)

Run tokenhook against it (another terminal, repository root):

  go run ./cmd/tokenhook serve --addr %s \
    --issuer %s --client-id %s --client-secret %s \
    --scopes "openid email profile groups offline_access" \
    --cookie-secret "$(openssl rand -base64 32)" --data-dir "" \
    --upstream http://127.0.0.1:8000

Press Ctrl-C to stop.
`, issuer, o.email, o.password, o.clientID, o.clientSecret, o.publicURL,
		hostPort(o.publicURL), issuer, o.clientID, o.clientSecret)
	if ready != nil {
		ready(issuer)
	}
	<-ctx.Done()
	return nil
}

// hostPort is the host:port part of tokenhook's URL (its --addr).
func hostPort(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		return pu.Host
	}
	return u
}
