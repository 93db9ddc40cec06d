package dpop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// TestReplayCacheTTL: a key is refused during its ttl and accepted again
// after it, and the cache holds nothing once every ttl has passed.
func TestReplayCacheTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewMemoryReplayCache(10)
	c.now = func() time.Time { return now }
	use := testenv.UseOnce(t, c)
	if !use("a", time.Minute) || use("a", time.Minute) {
		t.Fatal("a: want first, then refused")
	}
	use("b", 2*time.Minute)
	now = now.Add(time.Minute - time.Nanosecond)
	if use("a", time.Minute) {
		t.Fatal("a accepted before its ttl ended")
	}
	now = now.Add(time.Nanosecond)
	if !use("a", time.Minute) {
		t.Fatal("a refused after its ttl")
	}
	now = now.Add(2 * time.Minute)
	use("c", time.Second)
	now = now.Add(time.Second)
	use("d", time.Second)
	now = now.Add(time.Second)
	c.mu.Lock()
	c.dropExpired(now)
	n, entries := c.n, len(c.entries)
	c.mu.Unlock()
	if n != 0 || entries != 0 {
		t.Fatalf("after every ttl: %d slots, %d entries left", n, entries)
	}
}

// TestReplayCacheFull: a full cache never refuses a new key; it forgets the
// oldest one first, and a key recorded again keeps its newer entry when its
// older slot is freed.
func TestReplayCacheFull(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	c := NewMemoryReplayCache(3)
	c.now = func() time.Time { return now }
	use := testenv.UseOnce(t, c)
	for i := range 100 {
		if !use(fmt.Sprint("k", i), time.Hour) {
			t.Fatalf("k%d refused by a full cache", i)
		}
	}
	if len(c.entries) != 3 || c.n != 3 {
		t.Fatalf("%d entries, %d slots; want 3", len(c.entries), c.n)
	}
	if use("k99", time.Hour) || use("k98", time.Hour) || use("k97", time.Hour) {
		t.Fatal("a recent key was forgotten")
	}
	if !use("k96", time.Hour) {
		t.Fatal("the oldest key was kept")
	}
	// Re-recording an expired key: its old slot must not delete its new entry.
	c2 := NewMemoryReplayCache(4)
	c2.now = func() time.Time { return now }
	c2.UseOnce(ctx, "y", time.Hour)
	c2.UseOnce(ctx, "x", time.Second) // behind y: not dropped when it expires
	now = now.Add(2 * time.Second)
	if first, _ := c2.UseOnce(ctx, "x", time.Hour); !first {
		t.Fatal("x refused after its ttl")
	}
	c2.UseOnce(ctx, "z", time.Hour)
	c2.UseOnce(ctx, "w", time.Hour) // full: frees y's slot
	c2.UseOnce(ctx, "v", time.Hour) // frees x's old slot
	if first, _ := c2.UseOnce(ctx, "x", time.Hour); first {
		t.Fatal("x forgotten when its old slot was freed")
	}
}

// TestReplayCacheConcurrent: of many concurrent uses of one key exactly one
// is first.
func TestReplayCacheConcurrent(t *testing.T) {
	c := NewMemoryReplayCache(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := c.UseOnce(context.Background(), "same", time.Minute); ok {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d firsts", firsts)
	}
}

// TestNonces: replicas sharing a key accept each other's nonces; a nonce
// lives for its period and the next; another key's nonces are refused.
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
