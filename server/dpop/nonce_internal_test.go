package dpop

import (
	"testing"
	"time"
)

// TestNonces: replicas sharing a key accept each other's nonces; a nonce
// lives for its period and the next (the memo of a period's nonces never
// answers for another period); another key's nonces are refused.
func TestNonces(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clk := func() time.Time { return now }
	key := []byte("0123456789abcdef0123456789abcdef")
	a, _ := NewNonces(key, time.Minute, clk)
	b, _ := NewNonces(key, time.Minute, clk)
	other, _ := NewNonces([]byte("fedcba9876543210fedcba9876543210"), time.Minute, clk)
	n := a.Current()
	if !b.Valid(n) || other.Valid(n) || a.Valid("") {
		t.Fatal("replica or key check wrong")
	}
	now = now.Add(time.Minute)
	if !a.Valid(n) || a.Current() == n {
		t.Fatal("next period: want the old nonce still valid and a new current one")
	}
	now = now.Add(time.Minute)
	if a.Valid(n) {
		t.Fatal("nonce valid two periods on")
	}
	if _, err := NewNonces(key[:31], 0, nil); err == nil {
		t.Fatal("short key accepted")
	}
}
