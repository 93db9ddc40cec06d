package once

import (
	"context"
	"fmt"
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

func ExampleMemory() {
	states := NewMemory(10000)
	ctx := context.Background()
	first, _ := states.UseOnce(ctx, "state-123", 10*time.Minute)
	replay, _ := states.UseOnce(ctx, "state-123", 10*time.Minute)
	fmt.Println(first, replay)
	// Output: true false
}
