package redisstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/session"
)

// syntheticSession is the size of a Dex session: an RS256 access token,
// a refresh token, ID token claims, sid and sub.
func syntheticSession(i int) *session.Session {
	t := time.Now()
	return &session.Session{
		Token: session.Token{AccessToken: "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("x", 850), RefreshToken: "ChlrZXk" + strconv.Itoa(i) + strings.Repeat("r", 24),
			TokenType: "bearer", Scope: "openid email profile offline_access", Expiry: t.Add(time.Hour), IssuedAt: t},
		Subject: "CiQ" + strconv.Itoa(i) + "-subject", Email: "viewer" + strconv.Itoa(i) + "@example.com", SID: "sid-" + strconv.Itoa(i),
		Claims:  []byte(`{"iss":"https://idp.example.com/dex","aud":"tokenhook","email":"viewer@example.com","email_verified":true,"name":"A Viewer","iat":1764417600,"exp":1764504000}`),
		Created: t, ExpiresAt: t.Add(168 * time.Hour),
	}
}

// usedMemory reads used_memory from INFO memory.
func usedMemory(b *testing.B, c redis.UniversalClient) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}

// BenchmarkCapacity loads 100,000 sessions into an empty Redis through
// Sessions.Save (index sets included) and reports Redis's memory per
// session, then times Load and Save against that full Redis. Run it with
//
//	go test -run '^$' -bench Capacity -benchtime 2s ./server/redisstore
func BenchmarkCapacity(b *testing.B) {
	const n = 100_000
	c := client(b)
	ctx := context.Background()
	if err := c.FlushAll(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	s, _ := NewSessions(c, testenv.StoreKey(), "")
	before := usedMemory(b, c)
	start := time.Now()
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := s.Save(ctx, session.Key(strconv.Itoa(i)), syntheticSession(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	loadTime := time.Since(start)
	perSession := float64(usedMemory(b, c)-before) / n
	b.Logf("%d sessions saved in %v; Redis used_memory grew %.0f B per session (%.1f MB per 100k)", n, loadTime, perSession, perSession*n/1e6)

	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % n
			if _, err := s.Load(ctx, session.Key(strconv.Itoa(i))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(perSession, "redis-B/session")
	})
	b.Run("LoadParallel", func(b *testing.B) {
		b.SetParallelism(8) // many requests in flight, as behind a busy proxy
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i = (i + 7919) % n
				if _, err := s.Load(ctx, session.Key(strconv.Itoa(i))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Save", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % n
			if err := s.Save(ctx, session.Key(strconv.Itoa(i)), syntheticSession(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	c.FlushAll(ctx)
}

// BenchmarkLoad compares one session lookup in each store: Redis (a network
// round trip and a decryption), the file store's memory cache, and the file
// store reading from disk (cache too small to hold it).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	key := session.Key("bench")
	v := syntheticSession(1)
	rs, _ := NewSessions(client(b), testenv.StoreKey(), prefix(b))
	cached, _ := session.NewFile(b.TempDir(), testenv.StoreKey(), 0)
	disk, _ := session.NewFile(b.TempDir(), testenv.StoreKey(), 1) // holds nothing
	for name, st := range map[string]session.Store{"redis": rs, "file-cached": cached, "file-disk": disk} {
		if err := st.Save(ctx, key, v); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Load(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
