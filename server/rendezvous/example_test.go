package rendezvous_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// The iframe keeps secret and sends Challenge(secret) with the popup. When
// the popup's sign-in completes, the server records the channel with a
// one-time code, which the sign-in window posts to its opener; the iframe
// claims with both.
func ExampleMemory() {
	ctx := context.Background()
	store := rendezvous.NewMemory(10000)
	secret := "the iframe's random secret, never sent until the claim"
	challenge := rendezvous.Challenge(secret)

	store.Complete(ctx, "channel-1", challenge, "session-id", "one-time-code", 5*time.Minute)
	_, err := store.Claim(ctx, "channel-1", secret, "", 0)
	fmt.Println("secret alone:", err)
	id, err := store.Claim(ctx, "channel-1", secret, "one-time-code", 0)
	fmt.Println("secret and code:", id, err)
	// Output:
	// secret alone: rendezvous: sign-in not finished yet
	// secret and code: session-id <nil>
}

// Without an opener, the viewer compares the short code in the sign-in
// window with the one the iframe shows, and confirms.
func ExampleShortCode() {
	fmt.Println(rendezvous.ShortCode(rendezvous.Challenge("x")))
	// Output: FX2T-NSXZ
}
