package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// dexLike is a session of the size Dex gives: RS256 access and ID tokens.
func dexLike(i int) *Session {
	return &Session{
		Token:     Token{AccessToken: strings.Repeat("a", 900), RefreshToken: fmt.Sprintf("rt-%d-%s", i, strings.Repeat("r", 30)), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), IssuedAt: time.Now()},
		Subject:   fmt.Sprintf("sub-%d", i),
		Email:     fmt.Sprintf("viewer%d@example.com", i),
		SID:       fmt.Sprintf("sid-%d", i),
		Claims:    []byte(`{"iss":"https://idp.example.com","aud":"tokenhook","email":"viewer@example.com","email_verified":true,"name":"A Viewer"}`),
		Created:   time.Now(),
		ExpiresAt: time.Now().Add(time.Hour),
	}
}

func TestFileCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	const limit = 64 << 10
	fs, err := NewFile(t.TempDir(), testenv.StoreKey(), limit)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // about 500 KB of sessions, eight times the bound
	for i := range n {
		if err := fs.Save(ctx, Key(fmt.Sprint(i)), dexLike(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Load(ctx, Key(fmt.Sprint(i/2))); err != nil {
			t.Fatal(err)
		}
		if b, _ := fs.cache.size(); b > limit {
			t.Fatalf("after %d sessions the cache holds %d bytes, more than its bound %d", i+1, b, limit)
		}
	}
	b, cached := fs.cache.size()
	if cached == 0 || cached >= n/4 {
		t.Fatalf("cache holds %d of %d sessions (%d bytes): want some, far from all", cached, n, b)
	}
	// Every session, evicted or not, still loads: from disk when evicted.
	for i := range n {
		v, err := fs.Load(ctx, Key(fmt.Sprint(i)))
		if err != nil || v.Subject != fmt.Sprintf("sub-%d", i) {
			t.Fatalf("session %d after eviction: %+v, %v", i, v, err)
		}
	}
	// A deleted session does not come back from the cache.
	fs.Delete(ctx, Key("7"))
	if _, err := fs.Load(ctx, Key("7")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
}

// TestCacheFillRacesWrites replays a Load that read a session from disk
// while a Delete (logout) or a Save (a refreshed token) ran: the copy it read
// must not come back from the cache afterwards.
func TestCacheFillRacesWrites(t *testing.T) {
	ctx := context.Background()
	fs, err := NewFile(t.TempDir(), testenv.StoreKey(), 0)
	if err != nil {
		t.Fatal(err)
	}
	k := Key("viewer")
	inFlight := func() func() {
		fs.cache.delete(k) // not cached: the Load goes to disk
		stamp := fs.cache.stamp()
		v, size, err := fs.read(k, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return func() { fs.cache.fill(k, v, size, stamp) }
	}
	old := dexLike(1)
	fs.Save(ctx, k, old)
	finish := inFlight()
	fs.Delete(ctx, k)
	finish()
	if v, err := fs.Load(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted session came back from the cache: %v, %v", v.Subject, err)
	}

	fs.Save(ctx, k, old)
	finish = inFlight()
	newer := dexLike(1)
	newer.RefreshToken = "rotated"
	fs.Save(ctx, k, newer)
	finish()
	if v, err := fs.Load(ctx, k); err != nil || v.RefreshToken != "rotated" {
		t.Fatalf("the cache went back to an older token: %v, %v", v.RefreshToken, err)
	}
}

func TestCacheCannotOutliveSession(t *testing.T) {
	c := newLRU(1 << 20)
	v := dexLike(1)
	c.put("k", v, 1000)
	if _, ok := c.get("k", v.ExpiresAt.Add(-time.Second)); !ok {
		t.Fatal("live session not cached")
	}
	if _, ok := c.get("k", v.ExpiresAt); ok {
		t.Fatal("cache served a session past its end")
	}
	if b, n := c.size(); b != 0 || n != 0 {
		t.Fatalf("ended session still counted: %d bytes, %d entries", b, n)
	}
	c.put("big", v, 2<<20)
	if _, n := c.size(); n != 0 {
		t.Fatal("a session larger than the whole cache was kept")
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	fs, err := NewFile(t.TempDir(), testenv.StoreKey(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store interface {
			Store
			Finder
		}
	}{{"memory", NewMemory()}, {"file", fs}} {
		t.Run(tc.name, func(t *testing.T) {
			save := func(key, sid, sub string, end time.Time) {
				if err := tc.store.Save(ctx, key, &Session{SID: sid, Subject: sub, ExpiresAt: end}); err != nil {
					t.Fatal(err)
				}
			}
			later := time.Now().Add(time.Hour)
			save(Key("a"), "sid1", "alice", later)
			save(Key("b"), "sid2", "alice", later)
			save(Key("c"), "sid3", "bob", later)
			save(Key("d"), "sid1", "alice", time.Now().Add(-time.Second)) // ended
			for _, q := range []struct {
				sid, sub string
				want     []string
			}{
				{"sid1", "", []string{Key("a")}},
				{"", "alice", []string{Key("a"), Key("b")}},
				{"sid2", "alice", []string{Key("b")}},
				{"sid2", "bob", nil},
				{"", "", nil},
				{"nobody", "", nil},
			} {
				got, err := tc.store.Find(ctx, q.sid, q.sub)
				slices.Sort(got)
				slices.Sort(q.want)
				if err != nil || !slices.Equal(got, q.want) {
					t.Errorf("Find(%q, %q) = %v, %v; want %v", q.sid, q.sub, got, err, q.want)
				}
			}
		})
	}
}

func TestLocalBus(t *testing.T) {
	b := NewLocalBus()
	var got1, got2 []string
	stop1 := b.Subscribe(func(k string) { got1 = append(got1, k) })
	stop2 := b.Subscribe(func(k string) { got2 = append(got2, k) })
	b.Publish(context.Background(), "k1")
	stop1()
	b.Publish(context.Background(), "k2")
	stop2()
	b.Publish(context.Background(), "k3")
	if !slices.Equal(got1, []string{"k1"}) || !slices.Equal(got2, []string{"k1", "k2"}) {
		t.Fatalf("subscriber 1 got %v, subscriber 2 got %v", got1, got2)
	}
}

// BenchmarkCacheHeap reports the heap one cached session costs, to check
// entryOverhead: compare heap-B/session with est-B/session.
func BenchmarkCacheHeap(b *testing.B) {
	const n = 10000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newLRU(1 << 40)
		for i := range n {
			v := dexLike(i)
			plain, _ := json.Marshal(v)
			c.put(Key(fmt.Sprint(i)), v, len(plain))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		est, _ := c.size()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/session")
		b.ReportMetric(float64(est)/n, "est-B/session")
		runtime.KeepAlive(c)
	}
}
