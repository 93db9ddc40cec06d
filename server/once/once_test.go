package once

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

func TestMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(3)
	m.now = func() time.Time { return now }
	use := testenv.UseOnce(t, m)
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    bool
	}{
		{"first use", 0, "a", true},
		{"replay", 0, "a", false},
		{"another key", 0, "b", true},
		{"replay within the ttl", 59 * time.Second, "a", false},
		{"after the ttl the key is forgotten", 2 * time.Second, "a", true},
		{"b expired too", 0, "b", true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := use(s.key, time.Minute); got != s.want {
			t.Fatalf("%s: UseOnce(%q) = %v, want %v", s.name, s.key, got, s.want)
		}
	}
}

// TestMemoryFullEvictsOldest: a full store never refuses a new key; it
// forgets the oldest, and its size stays at the bound.
func TestMemoryFullEvictsOldest(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(100)
	for i := range 10000 {
		ok, err := m.UseOnce(ctx, fmt.Sprint("flood-", i), time.Hour)
		if err != nil || !ok {
			t.Fatalf("key %d refused (%v, %v)", i, ok, err)
		}
	}
	if n := m.Len(); n != 100 {
		t.Fatalf("%d keys held, want 100", n)
	}
	if ok, _ := m.UseOnce(ctx, "real", time.Hour); !ok {
		t.Fatal("a new key was refused by a full store")
	}
	if ok, _ := m.UseOnce(ctx, "real", time.Hour); ok {
		t.Fatal("a replay of the newest key was accepted")
	}
	if ok, _ := m.UseOnce(ctx, "flood-0", time.Hour); !ok {
		t.Fatal("the oldest key was not the one forgotten")
	}
	if len(m.order)-m.head > 2*100 {
		t.Fatalf("the queue holds %d items for %d keys", len(m.order)-m.head, m.Len())
	}
}

// TestMemoryTTL: a key is refused during its ttl and accepted again
// after it, and the store holds nothing once every ttl has passed.
func TestMemoryTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewMemory(10)
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
	c.evictLocked(now)
	n, entries := len(c.order)-c.head, len(c.until)
	c.mu.Unlock()
	if n != 0 || entries != 0 {
		t.Fatalf("after every ttl: %d slots, %d entries left", n, entries)
	}
}

// TestMemoryFullForgetsOldestSlot: a full store never refuses a new key; it forgets the
// oldest one first, and a key recorded again keeps its newer entry when its
// older slot is freed.
func TestMemoryFullForgetsOldestSlot(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	c := NewMemory(3)
	c.now = func() time.Time { return now }
	use := testenv.UseOnce(t, c)
	for i := range 100 {
		if !use(fmt.Sprint("k", i), time.Hour) {
			t.Fatalf("k%d refused by a full store", i)
		}
	}
	if len(c.until) != 3 || len(c.order)-c.head != 3 {
		t.Fatalf("%d entries, %d slots; want 3", len(c.until), len(c.order)-c.head)
	}
	if use("k99", time.Hour) || use("k98", time.Hour) || use("k97", time.Hour) {
		t.Fatal("a recent key was forgotten")
	}
	if !use("k96", time.Hour) {
		t.Fatal("the oldest key was kept")
	}
	// Re-recording an expired key: its old slot must not delete its new entry.
	c2 := NewMemory(4)
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

// TestMemoryConcurrent: of many concurrent uses of one key exactly one
// is first.
func TestMemoryConcurrent(t *testing.T) {
	c := NewMemory(1000)
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

func ExampleMemory() {
	states := NewMemory(10000)
	ctx := context.Background()
	first, _ := states.UseOnce(ctx, "state-123", 10*time.Minute)
	replay, _ := states.UseOnce(ctx, "state-123", 10*time.Minute)
	fmt.Println(first, replay)
	// Output: true false
}
