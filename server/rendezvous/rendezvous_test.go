package rendezvous

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestClaim(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(100)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	secret := "iframe-secret-0123456789"
	if err := s.Start(ctx, "ch1", Challenge(secret), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, "ch1", Challenge("other"), 5*time.Minute); !errors.Is(err, ErrClaimed) {
		t.Fatalf("restart of a channel: %v", err)
	}
	if _, err := s.Claim(ctx, "ch1", secret, 0); !errors.Is(err, ErrPending) {
		t.Fatalf("claim before completion: %v", err)
	}
	if err := s.Complete(ctx, "ch1", "session-1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		channel string
		secret  string
		want    error
		id      string
	}{
		{"wrong secret", "ch1", "guess", ErrWrongSecret, ""},
		{"challenge as secret", "ch1", Challenge(secret), ErrWrongSecret, ""},
		{"unknown channel", "nope", secret, ErrExpired, ""},
		{"right secret", "ch1", secret, nil, "session-1"},
		{"second claim", "ch1", secret, ErrClaimed, ""},
	} {
		id, err := s.Claim(ctx, tc.channel, tc.secret, 0)
		if !errors.Is(err, tc.want) || id != tc.id {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, id, err, tc.id, tc.want)
		}
	}
	// Expiry.
	s.Start(ctx, "ch2", Challenge(secret), 5*time.Minute)
	s.Complete(ctx, "ch2", "session-2")
	clock = clock.Add(6 * time.Minute)
	if _, err := s.Claim(ctx, "ch2", secret, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired channel: %v", err)
	}
	if err := s.Complete(ctx, "ch2", "x"); !errors.Is(err, ErrExpired) {
		t.Fatalf("complete after expiry: %v", err)
	}
}

func TestGuessingBurnsTheChannel(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(10)
	s.Start(ctx, "c", Challenge("right"), time.Minute)
	s.Complete(ctx, "c", "sid")
	for i := 0; i < maxFailures; i++ {
		s.Claim(ctx, "c", "wrong", 0)
	}
	if _, err := s.Claim(ctx, "c", "right", 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("after %d wrong guesses the right secret still claimed: %v", maxFailures, err)
	}
}

func TestClaimWaitsForCompletion(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(10)
	s.Start(ctx, "c", Challenge("s"), time.Minute)
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Complete(ctx, "c", "sid")
	}()
	id, err := s.Claim(ctx, "c", "s", 10*time.Second)
	if err != nil || id != "sid" {
		t.Fatalf("long-poll claim: %q %v", id, err)
	}
}

func TestCapacity(t *testing.T) {
	s := NewMemory(2)
	ctx := context.Background()
	s.Start(ctx, "a", "x", time.Minute)
	s.Start(ctx, "b", "x", time.Minute)
	if err := s.Start(ctx, "c", "x", time.Minute); err == nil {
		t.Fatal("store grew past its bound")
	}
}
