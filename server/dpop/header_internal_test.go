package dpop

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

// TestHeaderCacheBounded: a stranger sending proofs of ever new keys never
// grows the cache of known headers past headerCacheSize, and a new header is
// always taken in.
func TestHeaderCacheBounded(t *testing.T) {
	var c headerCache
	for i := range headerCacheSize + 100 {
		k := sha256.Sum256(fmt.Appendf(nil, "header %d", i))
		c.put(k, &knownHeader{jkt: fmt.Sprint(i)})
		if h := c.get(k); h == nil || h.jkt != fmt.Sprint(i) {
			t.Fatalf("header %d not remembered", i)
		}
	}
	if n := len(c.m); n != headerCacheSize {
		t.Fatalf("%d headers remembered, want %d", n, headerCacheSize)
	}
}
