// Command dexproc runs the in-process Dex of package internal/idp as a process
// of its own, so tests can stop it (SIGSTOP: a hung provider) and kill it (a
// provider that is down). GET /dex-test/grants answers how many token
// requests (code exchanges and refreshes) it has received.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redirect := flag.String("redirect", "", "the client's redirect URI")
	clientID := flag.String("client-id", "tokenhook", "client id")
	secret := flag.String("client-secret", "", "client secret")
	email := flag.String("email", "ada@example.com", "the user's email")
	password := flag.String("password", "", "the user's password")
	ttl := flag.Duration("token-ttl", time.Hour, "access token lifetime")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var grants atomic.Int64
	issuer := "http://" + ln.Addr().String() + "/dex"
	p, err := idp.Start(ctx, idp.Options{
		Issuer: issuer, Listener: ln, TokenTTL: *ttl,
		Users:   []idp.User{{Email: *email, Password: *password}},
		Clients: []idp.Client{{ID: *clientID, Secret: *secret, RedirectURIs: []string{*redirect}}},
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/dex/token":
					grants.Add(1)
				case "/dex-test/grants":
					fmt.Fprint(w, grants.Load())
					return
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer p.Close()
	fmt.Println(issuer) // the test reads the issuer from this line
	<-ctx.Done()
}
