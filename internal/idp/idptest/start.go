package idptest

import (
	"context"
	"net"
	"testing"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/jsbundle"
)

// Start runs a provider for one test on a free loopback port, with the
// issuer http://127.0.0.1:PORT/dex (o.Issuer and o.Listener are set here),
// and closes it when the test ends. It is the provider half of every test
// environment (package server's own, and internal/stacktest's for server/e2e
// and the examples).
func Start(t testing.TB, o idp.Options) *idp.Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Issuer, o.Listener = "http://"+ln.Addr().String()+"/dex", ln
	p, err := idp.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start the provider: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// RelyingParty is the provider's client for a tokenhook at origin: its
// callback is the redirect URI and its root the post-logout target.
func RelyingParty(id, secret, origin string) idp.Client {
	return idp.Client{ID: id, Secret: secret,
		RedirectURIs: []string{origin + jsbundle.Prefix + "callback"}, PostLogoutRedirectURIs: []string{origin + "/"}}
}
