package testenv

import (
	"context"
	"testing"
	"time"
)

// OnceUser is a store that records single-use keys (a replay cache, a store
// of login states).
type OnceUser interface {
	UseOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// UseOnce returns a function that records key in u for ttl and reports
// whether it was new; an error from u fails t.
func UseOnce(t testing.TB, u OnceUser) func(key string, ttl time.Duration) bool {
	return func(key string, ttl time.Duration) bool {
		t.Helper()
		first, err := u.UseOnce(context.Background(), key, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
}
