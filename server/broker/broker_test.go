package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/session"
)

func TestStripedLocker(t *testing.T) {
	l := NewStripedLocker()
	ctx := context.Background()
	unlock, err := l.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(wctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock of a held key: %v, want the context's deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := l.Lock(ctx, "a")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	unlock() // a second call does nothing (it must not release another holder)
	if err := <-got; err != nil {
		t.Fatalf("waiter after unlock: %v", err)
	}
}

func TestHealthBackoff(t *testing.T) {
	var h Health
	now := time.Unix(1000, 0)
	boom := errors.New("connection refused")
	for i, want := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second} {
		started := h.Fail(now, boom)
		if started != (i == 0) {
			t.Fatalf("failure %d: started = %v", i, started)
		}
		if got := h.RetryAt().Sub(now); got != want {
			t.Fatalf("failure %d: back-off %v, want %v", i, got, want)
		}
		if !h.Waiting(now.Add(want-time.Millisecond)) || h.Waiting(now.Add(want)) {
			t.Fatalf("failure %d: Waiting wrong around %v", i, want)
		}
	}
	for range 20 {
		h.Fail(now, boom)
	}
	if got := h.RetryAt().Sub(now); got != maxBackoff {
		t.Fatalf("back-off after many failures %v, want the cap %v", got, maxBackoff)
	}
	st := h.status()
	if !st.UnreachableSince.Equal(now) || st.Failures != 24 || st.String() != "unreachable since 1970-01-01T00:16:40Z (connection refused)" {
		t.Fatalf("status %+v %q", st, st)
	}
	if !h.OK() || h.OK() || h.Waiting(now) || !h.status().UnreachableSince.IsZero() {
		t.Fatal("OK must end the outage once and stop the back-off")
	}
}

func TestJudge(t *testing.T) {
	b, err := New(Options{Store: session.NewMemory(), RefreshSkew: time.Minute, ForcedInterval: 30 * time.Second}, ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(10000, 0)
	tok := func(life, age time.Duration, forced time.Duration) *session.Token {
		t := &session.Token{AccessToken: "at", IssuedAt: now.Add(-age), Expiry: now.Add(life - age)}
		if forced >= 0 {
			t.Forced = now.Add(-forced)
		}
		return t
	}
	stale := TokenHash("at")
	for _, tc := range []struct {
		name        string
		t           *session.Token
		stale       string
		due, usable bool
	}{
		{"fresh", tok(time.Hour, time.Minute, -1), "", false, true},
		{"inside the skew", tok(time.Hour, 59*time.Minute+30*time.Second, -1), "", true, true},
		{"expired", tok(time.Hour, 2*time.Hour, -1), "", true, false},
		{"short life: skew is a third", tok(30*time.Second, 15*time.Second, -1), "", false, true},
		{"short life, last third", tok(30*time.Second, 21*time.Second, -1), "", true, true},
		{"stale report", tok(time.Hour, time.Minute, -1), stale, true, false},
		{"stale report of another token", tok(time.Hour, time.Minute, -1), TokenHash("other"), false, true},
		{"stale report soon after a forced refresh", tok(time.Hour, time.Minute, 10*time.Second), stale, false, true},
		{"stale report after the interval", tok(time.Hour, time.Minute, 31*time.Second), stale, true, false},
		{"capped, but expired anyway", tok(time.Hour, 2*time.Hour, 10*time.Second), stale, true, false},
	} {
		if got := b.judge(tc.t, tc.stale, now); got.due != tc.due || got.usable != tc.usable {
			t.Errorf("%s: %+v, want due %v usable %v", tc.name, got, tc.due, tc.usable)
		}
	}
}
