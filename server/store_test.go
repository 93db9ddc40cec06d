package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/session"
)

func TestSessionStoreSetting(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	base := map[string]string{
		"TOKENHOOK_ISSUER": "https://idp.example", "TOKENHOOK_CLIENT_ID": "id", "TOKENHOOK_CLIENT_SECRET": "s",
		"TOKENHOOK_COOKIE_SECRET": strings.Repeat("k", 32), "TOKENHOOK_DATA_DIR": filepath.Join(dir, "data"),
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // the store's type, or the error's text
	}{
		{"default is file", nil, nil, "*session.File"},
		{"memory", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "memory"}, "*session.Memory"},
		{"file without data dir", []string{"--data-dir", ""}, nil, "*session.Memory"},
		{"redis", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis://:hunter2@127.0.0.1:1/2"}, "*redisstore.Sessions"},
		{"sentinel", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis+sentinel://127.0.0.1:1,127.0.0.1:2/main"}, "*redisstore.Sessions"},
		{"cluster", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis+cluster://127.0.0.1:1,127.0.0.1:2"}, "*redisstore.Sessions"},
		{"password file", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis://127.0.0.1:1", "TOKENHOOK_SESSION_STORE_PASSWORD_FILE": pwFile}, "*redisstore.Sessions"},
		{"bad url", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis://:hunter2@h:99999"},
			"--session-store (TOKENHOOK_SESSION_STORE): host \"h:99999\": port must be a number from 1 to 65535"},
		{"unknown", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "mysql://root:hunter2@db"},
			"--session-store (TOKENHOOK_SESSION_STORE): want file, memory or a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://)"},
		{"missing password file", nil, map[string]string{"TOKENHOOK_SESSION_STORE": "redis://h", "TOKENHOOK_SESSION_STORE_PASSWORD_FILE": filepath.Join(dir, "none")},
			"--session-store-password-file (TOKENHOOK_SESSION_STORE_PASSWORD_FILE): cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := loadConfig(tc.args, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				if !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error %q, want %q without the password", err, tc.want)
				}
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sh, err := openStore(ctx, cfg, make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			st := sh.store
			if got := fmt.Sprintf("%T", st); got != tc.want {
				t.Fatalf("store %s, want %s", got, tc.want)
			}
			if tc.name == "password file" {
				o, _ := redisstore.ParseURL(cfg.SessionStore, cfg.SessionStorePassword)
				if o.Password != "from-file" {
					t.Fatalf("password %q, want the file's", o.Password)
				}
			}
			if tc.name == "redis" {
				// Nothing listens on port 1: an unavailable store, not a
				// missing session (which would sign the viewer out).
				_, err := st.Load(ctx, session.Key("x"))
				var u *session.UnavailableError
				if !errors.As(err, &u) || u.Store != "redis" {
					t.Fatalf("load from an unreachable Redis: %v", err)
				}
			}
		})
	}
}

// TestRedisSessionsThroughServer runs tokenhook with --session-store on a
// real redis-server: the session lives in Redis sealed, survives a restart
// without a data dir, and a Redis outage answers 503 without signing the
// viewer out; Redis restarted empty means login_required.
func TestRedisSessionsThroughServer(t *testing.T) {
	rs := testenv.StartRedis(t)
	e := newEnvWith(t, func(e *testEnv, c *Config) {
		c.SessionStore, c.DataDir = "redis://"+rs.Addr(t)+"/0", ""
	})
	c := e.signedIn(users[0])
	a := e.token(c, nil)
	if a.status != 200 {
		t.Fatalf("token: %v", a)
	}
	at, _ := a.body["access_token"].(string)

	rc := redis.NewClient(&redis.Options{Addr: rs.Addr(t)})
	defer rc.Close()
	ctx := context.Background()
	keys := rc.Keys(ctx, "*").Val()
	if len(keys) == 0 {
		t.Fatal("nothing in Redis after sign-in")
	}
	for _, k := range keys {
		if rc.Type(ctx, k).Val() != "string" {
			continue
		}
		if v := rc.Get(ctx, k).Val(); strings.Contains(v, at) || strings.Contains(v, "ada@example.com") {
			t.Fatalf("Redis key %s holds the token or email in clear text", k)
		}
	}
	if v, err := e.srv.store.Load(ctx, e.srv.sessions.Key(mustReq(c, e.url))); err != nil || v.Email != "ada@example.com" {
		t.Fatalf("stored session: %+v, %v", v, err)
	}

	e.restart() // no data dir: the session can only come from Redis
	if a := e.token(c, nil); a.status != 200 {
		t.Fatalf("token after restart: %v", a)
	}
	if body := getBody(t, e.url+"/_tokenhook/readyz"); !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("readyz: %q", body)
	}

	rs.Kill(t)
	a = e.token(c, nil)
	if a.status != http.StatusServiceUnavailable || a.body["error"] != "temporarily_unavailable" ||
		!strings.Contains(a.raw, "(redis)") || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token with Redis down: %v", a)
	}
	if sc := a.header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("Redis down signed the viewer out: %v", sc)
	}
	if body := getBody(t, e.url+"/_tokenhook/readyz"); !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, `"store":"unavailable"`) {
		t.Fatalf("readyz with Redis down: %q", body)
	}

	rs.Restart(t) // back, empty
	deadline := time.Now().Add(10 * time.Second)
	for {
		a = e.token(c, nil)
		if a.status == http.StatusUnauthorized && a.body["error"] == "login_required" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token after Redis came back empty: %v", a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getBody returns the body of a 200 answer.
func getBody(t *testing.T, u string) string {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, r.StatusCode, b)
	}
	return string(b)
}

// BenchmarkTokenEndpointConcurrent is BenchmarkTokenEndpoint with many
// requests in flight, as behind a load balancer: with Redis, a request's
// wait for its GET overlaps other requests' work. Run it with -cpu 1 for
// the throughput of one core.
func BenchmarkTokenEndpointConcurrent(b *testing.B) {
	for _, store := range []string{"file", "redis"} {
		for _, inFlight := range []int{4, 32} {
			b.Run(fmt.Sprintf("%s/inflight=%d", store, inFlight), func(b *testing.B) {
				h, req := warmTokenServer(b, store)
				b.SetParallelism(inFlight)
				b.RunParallel(func(pb *testing.PB) {
					req := req.Clone(req.Context())
					for pb.Next() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Error(w.Code, w.Body.String())
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}

// TestSessionCacheSetting: --session-cache-mb bounds the file store's
// memory of decrypted sessions, in the store the server builds; bad values
// are one-line errors.
func TestSessionCacheSetting(t *testing.T) {
	base := []string{"--issuer", "https://idp.example", "--client-id", "id", "--client-secret", "s",
		"--cookie-secret", strings.Repeat("k", 32), "--data-dir", t.TempDir()}
	for _, bad := range []string{"0", "-3", "lots", "2097152"} {
		if _, err := loadConfig(append([]string{"--session-cache-mb", bad}, base...), func(string) string { return "" }, io.Discard); err == nil ||
			!strings.Contains(err.Error(), "--session-cache-mb") {
			t.Errorf("--session-cache-mb %s: %v", bad, err)
		}
	}
	cfg, err := loadConfig(append([]string{"--session-cache-mb", "1"}, base...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := s.finder.(*session.File)
	if !ok {
		t.Fatalf("store is %T", s.finder)
	}
	claims := []byte(`{"name":"` + strings.Repeat("x", 2000) + `"}`)
	now := time.Now()
	for i := range 2000 { // about 4 MB of sessions
		key := session.Key(fmt.Sprint("viewer-", i))
		sess := &session.Session{Subject: fmt.Sprint(i), Claims: claims, Created: now, ExpiresAt: now.Add(time.Hour)}
		if err := fs.Save(ctx, key, sess); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Load(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	used, limit := fs.CacheBytes()
	if limit != 1<<20 || used > limit || used < limit/2 {
		t.Fatalf("cache holds %d bytes, bound %d; want the 1 MiB bound, filled", used, limit)
	}
	if _, err := fs.Load(ctx, session.Key("viewer-0")); err != nil {
		t.Fatalf("an evicted session no longer loads from disk: %v", err)
	}
}
