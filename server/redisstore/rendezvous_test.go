package redisstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// TestRendezvousAcrossReplicas: a sign-in completed on one replica is
// claimed on another, once; wrong guesses, refusals and expiry behave as in
// the in-process store, and Redis holds neither the session id nor the code
// in clear.
func TestRendezvousAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	key := testenv.StoreKey()
	a, err := NewRendezvous(client(t), key, prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRendezvous(client(t), key, prefix(t))
	const secret, code, sid = "iframe-secret-0123456789", "one-time-code-from-the-popup", "session-id-plaintext-marker"
	if err := a.Complete(ctx, "ch1", rendezvous.Challenge(secret), sid, code, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Complete(ctx, "ch1", rendezvous.Challenge("attacker"), "x", "x", time.Minute); !errors.Is(err, rendezvous.ErrClaimed) {
		t.Fatalf("second completion on another replica: %v", err)
	}
	for _, k := range client(t).Keys(ctx, prefix(t)+"*").Val() {
		vals := client(t).HGetAll(ctx, k).Val()
		for _, v := range vals {
			if bytes.Contains([]byte(v), []byte(sid)) || v == code {
				t.Fatalf("Redis holds a secret in clear under %s", k)
			}
		}
	}
	for _, tc := range []struct {
		name, channel, secret, code string
		want                        error
		id                          string
	}{
		{"secret alone, unconfirmed", "ch1", secret, "", rendezvous.ErrPending, ""},
		{"wrong secret", "ch1", "guess", code, rendezvous.ErrWrongSecret, ""},
		{"wrong code", "ch1", secret, "guess", rendezvous.ErrWrongSecret, ""},
		{"unknown channel", "nope", secret, code, rendezvous.ErrPending, ""},
		{"secret and code, other replica", "ch1", secret, code, nil, sid},
		{"replayed", "ch1", secret, code, rendezvous.ErrClaimed, ""},
	} {
		id, err := b.Claim(ctx, tc.channel, tc.secret, tc.code, 0)
		if !errors.Is(err, tc.want) || id != tc.id {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, id, err, tc.id, tc.want)
		}
	}

	// A claim waiting on b is answered when the viewer confirms on a.
	a.Complete(ctx, "ch2", rendezvous.Challenge(secret), "s2", code, time.Minute)
	got := make(chan error, 1)
	go func() {
		id, err := b.Claim(ctx, "ch2", secret, "", 5*time.Second)
		if err == nil && id != "s2" {
			err = errors.New("wrong session " + id)
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := a.Confirm(ctx, "ch2", code, true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting claim: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting claim did not see the confirmation within 2 s")
	}

	// Refused, burnt by guesses, and expired channels never open.
	a.Complete(ctx, "no", rendezvous.Challenge(secret), "s3", code, time.Minute)
	if err := a.Confirm(ctx, "no", code, false); err != nil {
		t.Fatal(err)
	}
	a.Complete(ctx, "burn", rendezvous.Challenge(secret), "s4", code, time.Minute)
	for range rendezvous.MaxFailures {
		b.Claim(ctx, "burn", "guess", code, 0)
	}
	a.Complete(ctx, "late", rendezvous.Challenge(secret), "s5", code, time.Minute)
	b.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	for _, ch := range []string{"no", "burn", "late"} {
		if _, err := b.Claim(ctx, ch, secret, code, 0); !errors.Is(err, rendezvous.ErrExpired) {
			t.Errorf("%s: claim gave %v, want ErrExpired", ch, err)
		}
	}
	if err := b.Confirm(ctx, "nothing", code, true); !errors.Is(err, rendezvous.ErrExpired) {
		t.Errorf("confirming an unknown channel: %v", err)
	}
}
