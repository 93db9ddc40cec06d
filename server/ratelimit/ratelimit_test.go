package ratelimit

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(time.Second, 3, 100)
	allow := func(key string) (bool, time.Duration) { return l.Allow(key, now) }
	for i := range 3 {
		if ok, _ := allow("a"); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, retry := allow("a")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("past the burst: ok=%v retry=%v, want refused with a retry within 1s", ok, retry)
	}
	if ok, _ := allow("b"); !ok {
		t.Fatal("another key was refused because of a")
	}
	now = now.Add(retry)
	if ok, _ := allow("a"); !ok {
		t.Fatal("refused after waiting the retry time")
	}
	if ok, _ := allow("a"); ok {
		t.Fatal("a second event within the interval was allowed")
	}
	now = now.Add(10 * time.Second)
	for i := range 3 {
		if ok, _ := allow("a"); !ok {
			t.Fatalf("after a quiet while, event %d of a new burst refused", i)
		}
	}
}

// TestLimiterBounded: a flood of distinct keys never grows the limiter past
// twice its bound, and never refuses a key that stays within its limit.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(time.Second, 2, 1000)
	for i := range 100000 {
		if ok, _ := l.Allow(fmt.Sprint("10.0.", i/256, ".", i%256), now); !ok {
			t.Fatalf("a fresh key (%d) was refused", i)
		}
		if i%100 == 0 {
			if ok, _ := l.Allow("viewer", now.Add(time.Duration(i)*10*time.Millisecond)); !ok {
				t.Fatalf("the viewer within its limit was refused during the flood (%d)", i)
			}
		}
	}
	if n := l.Len(); n > 2000 {
		t.Fatalf("the limiter holds %d keys, want at most 2000", n)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.7:5555", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
		{"@", ""},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"not an address", ""},
	} {
		if got := Proxies(nil).Client(&http.Request{RemoteAddr: tc.remote}); got != tc.want {
			t.Errorf("Client(RemoteAddr %q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func ExampleLimiter() {
	l := New(time.Second, 2, 10000) // two at once, then one a second
	now := time.Now()
	for range 3 {
		ok, retry := l.Allow("192.0.2.7", now)
		fmt.Println(ok, retry.Round(time.Second))
	}
	// Output:
	// true 0s
	// true 0s
	// false 1s
}
