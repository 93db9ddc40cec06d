package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/session"
)

var redisServer testenv.Redis

func TestMain(m *testing.M) { os.Exit(redisServer.Main(m)) }

// client returns a new client of the test server, as one replica has, closed
// at the end of the test.
func client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c, err := Open("redis://"+redisServer.Addr(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// prefix keeps each test's keys apart.
func prefix(t testing.TB) string { return "test:" + t.Name() + ":" }

func TestSessions(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	key := testenv.StoreKey()
	a, err := NewSessions(c, key, prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSessions(client(t), key, prefix(t)) // another replica
	k := session.Key("viewer-1")
	if _, err := a.Load(ctx, k); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}
	secret := "refresh-token-plaintext-marker"
	in := &session.Session{Token: session.Token{AccessToken: "at", RefreshToken: secret}, Subject: "alice", SID: "sid-1",
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := a.Save(ctx, k, in); err != nil {
		t.Fatal(err)
	}
	out, err := b.Load(ctx, k)
	if err != nil || out.RefreshToken != secret || out.SID != "sid-1" {
		t.Fatalf("other replica loads %+v, %v", out, err)
	}

	raw, err := c.Get(ctx, prefix(t)+"s:"+k).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("alice")) {
		t.Fatal("Redis holds the session in clear text")
	}
	ttl := c.PTTL(ctx, prefix(t)+"s:"+k).Val()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL %v, want the session's remaining hour", ttl)
	}

	other, _ := NewSessions(c, testenv.StoreKey(), prefix(t)) // another cookie secret
	if _, err := other.Load(ctx, k); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("loaded with the wrong key: %v", err)
	}
	// A sealed session copied under another key does not open.
	c.Set(ctx, prefix(t)+"s:"+session.Key("viewer-2"), raw, time.Minute)
	if _, err := a.Load(ctx, session.Key("viewer-2")); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("moved session: %v", err)
	}

	if err := a.Save(ctx, session.Key("ended"), &session.Session{ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, prefix(t)+"s:"+session.Key("ended")).Val(); n != 0 {
		t.Fatal("an ended session was written")
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx, k); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	if err := a.Delete(ctx, k); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	s, _ := NewSessions(c, testenv.StoreKey(), prefix(t))
	later := time.Now().Add(time.Hour)
	for _, v := range []struct{ id, sid, sub string }{
		{"a", "sid1", "alice"}, {"b", "sid2", "alice"}, {"c", "sid3", "bob"}, {"d", "sid1", "alice"},
	} {
		if err := s.Save(ctx, session.Key(v.id), &session.Session{SID: v.sid, Subject: v.sub, ExpiresAt: later}); err != nil {
			t.Fatal(err)
		}
	}
	s.Delete(ctx, session.Key("d"))
	for _, q := range []struct {
		sid, sub string
		want     []string
	}{
		{"sid1", "", []string{session.Key("a")}},
		{"", "alice", []string{session.Key("a"), session.Key("b")}},
		{"sid2", "alice", []string{session.Key("b")}},
		{"sid2", "bob", nil},
		{"", "", nil},
	} {
		got, err := s.Find(ctx, q.sid, q.sub)
		slices.Sort(got)
		slices.Sort(q.want)
		if err != nil || !slices.Equal(got, q.want) {
			t.Errorf("Find(%q, %q) = %v, %v; want %v", q.sid, q.sub, got, err, q.want)
		}
	}
	if c.SIsMember(ctx, s.indexKey("sid", "sid1"), session.Key("d")).Val() {
		t.Error("Find left a deleted session in the index")
	}
	// The index lives as long as its longest session, no longer.
	if ttl := c.PTTL(ctx, s.indexKey("sub", "alice")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("index TTL %v", ttl)
	}
	s.Save(ctx, session.Key("e"), &session.Session{Subject: "alice", ExpiresAt: time.Now().Add(time.Minute)})
	if ttl := c.PTTL(ctx, s.indexKey("sub", "alice")).Val(); ttl <= 59*time.Minute {
		t.Errorf("a shorter session shortened the index to %v", ttl)
	}
}

func TestOnce(t *testing.T) {
	ctx := context.Background()
	a, b := NewOnce(client(t), prefix(t)), NewOnce(client(t), prefix(t))
	if first, err := a.UseOnce(ctx, "state-1", time.Minute); !first || err != nil {
		t.Fatalf("first use: %v, %v", first, err)
	}
	if first, err := b.UseOnce(ctx, "state-1", time.Minute); first || err != nil {
		t.Fatalf("replay on another replica: %v, %v", first, err)
	}
	if first, _ := b.UseOnce(ctx, "state-2", time.Minute); !first {
		t.Fatal("another key refused")
	}
	if n := client(t).Exists(ctx, prefix(t)+"once:state-1").Val(); n != 0 {
		t.Fatal("the key reached Redis unhashed")
	}
}

func TestBus(t *testing.T) {
	ctx := context.Background()
	a, b := NewBus(client(t), prefix(t)), NewBus(client(t), prefix(t))
	got := make(chan string, 4)
	stopA := a.Subscribe(func(k string) { got <- "a:" + k })
	stopB := b.Subscribe(func(k string) { got <- "b:" + k })
	defer stopB()
	if err := a.Publish(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	var recv []string
	for range 2 {
		select {
		case m := <-got:
			recv = append(recv, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("received only %v", recv)
		}
	}
	slices.Sort(recv)
	if !slices.Equal(recv, []string{"a:k1", "b:k1"}) {
		t.Fatalf("received %v", recv)
	}
	stopA()
	stopA() // twice is fine
	b.Publish(ctx, "k2")
	if m := <-got; m != "b:k2" {
		t.Fatalf("after stop: %v", m)
	}
}

func TestLeaseExcludesOtherReplicas(t *testing.T) {
	ctx := context.Background()
	// Short enough to be passed by the slow holders below, long enough that
	// renewals (every ttl/3, each with ttl/3 to answer) survive a loaded test
	// machine: a renewal must be more than ttl late to lose the lease (at
	// 400 ms, a CI machine running two test packages on two cores lost it).
	const ttl = time.Second
	var holders atomic.Int32
	var overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := range 2 {
		l := NewLease(client(t), prefix(t)) // one client per replica
		l.TTL = ttl
		for j := range 2 {
			wg.Go(func() {
				unlock, err := l.Lock(ctx, "session-1")
				if err != nil {
					t.Errorf("replica %d worker %d: %v", i, j, err)
					return
				}
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				time.Sleep(3 * ttl / 2) // a slow provider call, past the first lease
				holders.Add(-1)
				unlock()
			})
		}
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d times two holders at once", n)
	}
}

func TestLeaseOfCrashedHolderEnds(t *testing.T) {
	ctx := context.Background()
	crashed := client(t)
	a := NewLease(crashed, prefix(t))
	a.TTL = 200 * time.Millisecond
	if _, err := a.Lock(ctx, "session-1"); err != nil {
		t.Fatal(err)
	}
	crashed.Close() // the replica dies: its renewals stop
	c := client(t)
	b := NewLease(c, prefix(t))
	b.MaxWait = 5 * time.Second
	unlock, err := b.Lock(ctx, "session-1")
	if err != nil {
		t.Fatalf("the crashed holder's lease never ended: %v", err)
	}
	defer unlock()
	if ttl := c.PTTL(ctx, prefix(t)+"lock:session-1").Val(); ttl <= 0 {
		t.Fatalf("new holder's lease TTL %v", ttl)
	}
}

func TestLeaseReleaseAndWaitBound(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	a, b := NewLease(c, prefix(t)), NewLease(client(t), prefix(t))
	b.MaxWait = 100 * time.Millisecond
	unlock, err := a.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "k"); !errors.Is(err, ErrLockWait) {
		t.Fatalf("second holder: %v, want ErrLockWait", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Lock(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// Only the owner's token releases: a stranger's value stays.
	unlock()
	c.Set(ctx, prefix(t)+"lock:k", "someone-else", time.Minute)
	unlock()
	if v := c.Get(ctx, prefix(t)+"lock:k").Val(); v != "someone-else" {
		t.Fatalf("a second unlock removed another holder's lease (now %q)", v)
	}
	c.Del(ctx, prefix(t)+"lock:k")
	unlockB, err := b.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlockB()
}

// TestRedisDownAndBack runs last in this file: it stops the shared server.
func TestRedisDownAndBack(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	s, _ := NewSessions(c, testenv.StoreKey(), prefix(t))
	k := session.Key("viewer")
	if err := s.Save(ctx, k, &session.Session{Subject: "alice", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	redisServer.Kill(t)
	var unavailable *session.UnavailableError
	if _, err := s.Load(ctx, k); !errors.As(err, &unavailable) || unavailable.Store != "redis" || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("load with Redis down: %v, want a redis UnavailableError", err)
	}
	if err := s.Save(ctx, k, &session.Session{ExpiresAt: time.Now().Add(time.Hour)}); !errors.As(err, &unavailable) {
		t.Fatalf("save with Redis down: %v", err)
	}
	if _, err := NewLease(c, prefix(t)).Lock(ctx, "k"); !errors.As(err, &unavailable) {
		t.Fatalf("lock with Redis down: %v", err)
	}
	if _, err := NewOnce(c, prefix(t)).UseOnce(ctx, "k", time.Minute); !errors.As(err, &unavailable) {
		t.Fatalf("use once with Redis down: %v", err)
	}
	redisServer.Restart(t) // empty, like a Redis without persistence
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Load(ctx, k)
		if errors.Is(err, session.ErrNotFound) {
			break // the viewer signs in again: login_required, not an error
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back empty: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveSetPrunedWithoutCount: with nobody counting (metrics off), saving
// sessions drops the ended ones from the live set, which therefore holds
// only live sessions instead of growing with every sign-in.
func TestLiveSetPrunedWithoutCount(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	s, _ := NewSessions(c, testenv.StoreKey(), prefix(t))
	now := time.Now()
	for i := range 5 {
		if err := s.Save(ctx, session.Key(fmt.Sprint("short-", i)), &session.Session{Subject: "s", ExpiresAt: now.Add(300 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond) // they end
	if err := s.Save(ctx, session.Key("long"), &session.Session{Subject: "l", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ZCard(ctx, s.liveKey()).Result(); err != nil || n != 1 {
		t.Fatalf("live set holds %d entries (%v), want 1", n, err)
	}
}

// TestSessionsCount: the live set counts saved sessions on every replica;
// a deleted session and one past its end are not counted.
func TestSessionsCount(t *testing.T) {
	ctx := context.Background()
	key, pre := testenv.StoreKey(), prefix(t)
	a, _ := NewSessions(client(t), key, pre)
	b, _ := NewSessions(client(t), key, pre) // another replica
	now := time.Now()
	for i, life := range []time.Duration{time.Hour, time.Hour, 300 * time.Millisecond} {
		if err := a.Save(ctx, session.Key(fmt.Sprint("viewer-", i)), &session.Session{Subject: fmt.Sprint(i), ExpiresAt: now.Add(life)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Count(ctx); err != nil || n != 3 {
		t.Fatalf("count %d, %v; want 3", n, err)
	}
	if err := b.Delete(ctx, session.Key("viewer-1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // viewer-2's session ends
	if n, err := a.Count(ctx); err != nil || n != 1 {
		t.Fatalf("count after a logout and an expiry %d, %v; want 1", n, err)
	}
}
