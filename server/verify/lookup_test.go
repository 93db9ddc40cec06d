package verify

import (
	"testing"
	"time"
)

// TestAgeRingBoundedByAge: a full ring drops its oldest entries, never
// refuses, and stays within its size whatever is put in.
func TestAgeRingBoundedByAge(t *testing.T) {
	r := newAgeRing[int, int](32)
	now := time.Now()
	for i := range 1000 {
		r.put(i%100, i, now.Add(time.Duration(i)*time.Millisecond))
		if r.len() > 32 {
			t.Fatalf("%d entries after %d puts, bound 32", r.len(), i+1)
		}
	}
	// The last 32 puts survive: keys 68..99 with their latest values.
	for k := 68; k < 100; k++ {
		if v, _, ok := r.get(k); !ok || v != 900+k {
			t.Fatalf("key %d: %d %v, want the newest value %d", k, v, ok, 900+k)
		}
	}
	if _, _, ok := r.get(67); ok {
		t.Fatal("an older entry survived a newer one")
	}
}
