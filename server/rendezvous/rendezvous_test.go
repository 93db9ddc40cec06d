package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const (
	secret = "iframe-secret-0123456789"
	code   = "one-time-code-from-the-popup"
)

// TestClaimWithCode: the frame the sign-in window posted its code to
// claims with secret and code; nothing else claims.
func TestClaimWithCode(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(100)
	if _, err := s.Claim(ctx, "ch1", secret, "", 0); !errors.Is(err, ErrPending) {
		t.Fatalf("claim before completion: %v", err)
	}
	if err := s.Complete(ctx, "ch1", Challenge(secret), "session-1", code, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "ch1", Challenge("attacker"), "session-2", "x", 5*time.Minute); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a second completion of a channel: %v", err)
	}
	for _, tc := range []struct {
		name, channel, secret, code string
		want                        error
		id                          string
	}{
		{"secret alone, unconfirmed (the attacker's position)", "ch1", secret, "", ErrPending, ""},
		{"wrong secret", "ch1", "guess", code, ErrWrongSecret, ""},
		{"challenge as secret", "ch1", Challenge(secret), code, ErrWrongSecret, ""},
		{"wrong code", "ch1", secret, "guess", ErrWrongSecret, ""},
		{"unknown channel", "nope", secret, code, ErrPending, ""},
		{"secret and code", "ch1", secret, code, nil, "session-1"},
		{"replayed", "ch1", secret, code, ErrClaimed, ""},
	} {
		id, err := s.Claim(ctx, tc.channel, tc.secret, tc.code, 0)
		if !errors.Is(err, tc.want) || id != tc.id {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, id, err, tc.id, tc.want)
		}
	}
}

// TestConfirm: without an opener the viewer confirms in the sign-in window;
// the frame's secret then claims alone. A refusal, an unknown code or a late
// answer never makes a channel claimable.
func TestConfirm(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(100)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	s.Complete(ctx, "yes", Challenge(secret), "session-yes", code, 5*time.Minute)
	s.Complete(ctx, "no", Challenge(secret), "session-no", code, 5*time.Minute)
	s.Complete(ctx, "late", Challenge(secret), "session-late", code, 5*time.Minute)

	if err := s.Confirm(ctx, "yes", "forged", true); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("confirm with a forged code: %v", err)
	}
	if _, err := s.Claim(ctx, "yes", secret, "", 0); !errors.Is(err, ErrPending) {
		t.Fatalf("claim after a forged confirmation: %v", err)
	}
	if err := s.Confirm(ctx, "yes", code, true); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Claim(ctx, "yes", secret, "", 0); err != nil || id != "session-yes" {
		t.Fatalf("claim after confirmation: %q, %v", id, err)
	}
	if err := s.Confirm(ctx, "yes", code, true); !errors.Is(err, ErrClaimed) {
		t.Fatalf("confirm after the claim: %v", err)
	}

	if err := s.Confirm(ctx, "no", code, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"", code} {
		if _, err := s.Claim(ctx, "no", secret, c, 0); !errors.Is(err, ErrExpired) {
			t.Fatalf("claim (code %q) of a refused sign-in: %v", c, err)
		}
	}

	clock = clock.Add(6 * time.Minute)
	if err := s.Confirm(ctx, "late", code, true); !errors.Is(err, ErrExpired) {
		t.Fatalf("late confirmation: %v", err)
	}
	if _, err := s.Claim(ctx, "late", secret, code, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("late claim: %v", err)
	}
}

func TestWrongGuessesBurnTheChannel(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(100)
	s.Complete(ctx, "ch", Challenge(secret), "session", code, 5*time.Minute)
	for i := range MaxFailures {
		if _, err := s.Claim(ctx, "ch", fmt.Sprint("guess-", i), "", 0); !errors.Is(err, ErrWrongSecret) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := s.Claim(ctx, "ch", secret, code, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("after %d wrong guesses the right secret and code got: %v", MaxFailures, err)
	}
}

// TestClaimWaits: a waiting claim is answered as soon as the channel becomes
// claimable, not when its wait ends.
func TestClaimWaits(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(100)
	type result struct {
		id  string
		err error
	}
	got := make(chan result, 1)
	go func() {
		id, err := s.Claim(ctx, "ch", secret, "", 10*time.Second)
		got <- result{id, err}
	}()
	time.Sleep(20 * time.Millisecond)
	s.Complete(ctx, "ch", Challenge(secret), "session", code, time.Minute)
	select {
	case r := <-got:
		t.Fatalf("the claim returned before confirmation: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
	start := time.Now()
	s.Confirm(ctx, "ch", code, true)
	r := <-got
	if r.err != nil || r.id != "session" {
		t.Fatalf("claim: %v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the claim waited %v after the confirmation", d)
	}
}

// TestBoundedByAge: completions beyond the bound forget the oldest channel;
// a new one is never refused.
func TestBoundedByAge(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(50)
	for i := range 1000 {
		if err := s.Complete(ctx, fmt.Sprint("ch-", i), Challenge(secret), "s", code, time.Minute); err != nil {
			t.Fatalf("completion %d refused: %v", i, err)
		}
	}
	if n := s.Len(); n != 50 {
		t.Fatalf("%d channels held, want 50", n)
	}
	if _, err := s.Claim(ctx, "ch-999", secret, code, 0); err != nil {
		t.Fatalf("the newest channel: %v", err)
	}
}

func TestShortCode(t *testing.T) {
	// Challenge("x") starts with the bytes 2d 71 16 42 b7.
	for _, tc := range []struct{ challenge, want string }{
		{Challenge("x"), "FX2T-NSXZ"},
		{"AAAAAAAA", "AAAA-AAAA"},
		{"________", "9999-9999"},
		{"not base64!", ""},
		{"AA", ""},
	} {
		if got := ShortCode(tc.challenge); got != tc.want {
			t.Errorf("ShortCode(%q) = %q, want %q", tc.challenge, got, tc.want)
		}
	}
}
