package backchannel_test

import (
	"context"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/server/backchannel"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/session"
)

// The endpoint a provider calls, ending sessions in a memory store.
func Example() {
	ctx := context.Background()
	store := session.NewMemory()
	v, err := backchannel.New(backchannel.Config{
		Issuer:   "https://idp.example.com",
		ClientID: "tokenhook",
		KeySet:   oidc.NewRemoteKeySet(ctx, "https://idp.example.com/jwks"),
		Replay:   once.NewMemory(10000),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /_tokenhook/backchannel-logout", backchannel.Handler(v, backchannel.EndSessions(store, session.NewLocalBus())))
	_ = mux
}
