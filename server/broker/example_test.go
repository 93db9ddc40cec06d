package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/session"
)

// A backend job calls an API with the viewer's token for the "data"
// connection: the oauth2 client refreshes through the broker, sharing the
// refresh (and its lock) with the viewer's browser tabs.
func ExampleBroker_TokenSource() {
	store := session.NewMemory()
	b, err := broker.New(broker.Options{Store: store, Timeout: 3 * time.Second},
		broker.ClientConfig{Issuer: "https://id.example.com", ClientID: "tokenhook", ClientSecret: "…"},
		broker.ClientConfig{Name: "data", Issuer: "https://data.example.com", ClientID: "tokenhook-data", ClientSecret: "…"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	key := session.Key("the viewer's session id")
	client := oauth2.NewClient(ctx, b.TokenSource(ctx, key, "data"))
	resp, err := client.Get("https://data.example.com/api/tables")
	if err != nil {
		fmt.Println(err) // e.g. broker.ErrConnectionRequired: send the viewer to link "data"
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode == http.StatusOK)
}
