package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/backchannel"
)

// pinReplica is the header the fleet's front routes by (a replica's index);
// without it the front goes round-robin.
const pinReplica = "X-Test-Replica"

// fleet is tokenhook as a deployment runs it: several replicas sharing one
// --public-url (a round-robin front), one Dex and one redis-server, in front
// of one app. Its testEnv talks to the front.
type fleet struct {
	*testEnv
	redis    *testenv.Redis
	rc       redis.UniversalClient
	replicas []*Server
	addrs    []*url.URL

	mu     sync.Mutex
	served map[string]int // path → index of the replica that served it last

	logoutKey *ecdsa.PrivateKey // signs logout tokens; its public key is in Dex's key set

	// While holdGrants is set, token requests to Dex wait 3 s (a slow
	// provider; held is told of each) and are dropped if their caller went
	// away meanwhile. grants counts the requests Dex answered.
	holdGrants atomic.Bool
	held       chan struct{}
	grants     atomic.Int32
}

// newFleet starts n replicas on one Redis behind a round-robin front.
func newFleet(t *testing.T, n int) *fleet { return newFleetWith(t, n, nil) }

// newFleetWith is newFleet with mod, when not nil, changing the replicas'
// configuration first.
func newFleetWith(t *testing.T, n int, mod func(*Config)) *fleet {
	t.Helper()
	f := &fleet{redis: testenv.StartRedis(t), served: map[string]int{}, held: make(chan struct{}, 1)}
	f.testEnv = &testEnv{t: t, logs: &testenv.LogBuffer{}}
	var err error
	if f.logoutKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	frontLn, idpLn := localListener(t), localListener(t)
	f.url = "http://" + frontLn.Addr().String()
	issuer := "http://" + idpLn.Addr().String() + "/dex"
	f.idp, err = idp.Start(context.Background(), idp.Options{
		Issuer: issuer, Listener: idpLn, Users: users,
		Clients: []idp.Client{{ID: "tokenhook", Secret: testSecret, RedirectURIs: []string{f.url + "/_tokenhook/callback"}}},
		Wrap:    f.wrapProvider,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.idp.Close() })
	app := httptest.NewServer(&identityApp{})
	t.Cleanup(app.Close)
	redisURL := "redis://" + f.redis.Addr(t) + "/0"
	f.cfg = Config{
		PublicURL: f.url, Issuer: issuer, ClientID: "tokenhook", ClientSecret: testSecret,
		CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), SessionStore: redisURL, Upstream: app.URL,
	}
	if mod != nil {
		mod(&f.cfg)
	}
	if f.rc, err = redisOpen(redisURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.rc.Close() })
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := New(ctx, f.cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		ln := localListener(t)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		t.Cleanup(func() { cancel(); <-done })
		for deadline := time.Now().Add(10 * time.Second); srv.broker.SignIn().Provider() == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a replica did not discover the provider")
			}
		}
		f.replicas = append(f.replicas, srv)
		f.addrs = append(f.addrs, mustURL("http://"+ln.Addr().String()))
	}
	f.srv = f.replicas[0]
	var next atomic.Int64
	front := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := int(next.Add(1)-1) % n
		if v, err := strconv.Atoi(pr.In.Header.Get(pinReplica)); err == nil {
			i = v
		}
		f.mu.Lock()
		f.served[pr.In.URL.Path] = i
		f.mu.Unlock()
		pr.SetURL(f.addrs[i])
		pr.Out.Host = pr.In.Host // the replicas see the public host
	}}
	hs := &http.Server{Handler: front}
	go hs.Serve(frontLn)
	t.Cleanup(func() { hs.Close() })
	return f
}

// redisOpen is a client of the fleet's Redis for the test's own checks.
func redisOpen(u string) (redis.UniversalClient, error) {
	o, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(o), nil
}

// wrapProvider counts Dex's token grants and adds the logout signer's key to
// Dex's key set, as a provider that signs logout tokens publishes it.
func (f *fleet) wrapProvider(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/dex/token":
			f.tokenCalls.Add(1)
			if f.holdGrants.Load() {
				// Read the body first: only then does net/http notice a
				// caller that went away (and cancel r's context).
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				select {
				case f.held <- struct{}{}:
				default:
				}
				select {
				case <-r.Context().Done():
					return // the caller died: Dex never sees the grant
				case <-time.After(3 * time.Second):
				}
			}
			defer f.grants.Add(1)
		case strings.HasSuffix(r.URL.Path, "/keys"):
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &f.logoutKey.PublicKey, KeyID: "logout-signer", Algorithm: string(jose.ES256), Use: "sig"})
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(set)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// servedBy returns the index of the replica that last served path.
func (f *fleet) servedBy(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.served[path]; ok {
		return i
	}
	return -1
}

// on asks replica i (through the front) with browser c's cookies.
func (f *fleet) on(c *http.Client, i int, method, path string, hdr map[string]string) (*http.Response, string) {
	f.t.Helper()
	h := map[string]string{pinReplica: strconv.Itoa(i)}
	for k, v := range hdr {
		h[k] = v
	}
	return do(f.t, c, method, f.url+path, h, "")
}

// logoutToken signs a back-channel logout token for sub.
func (f *fleet) logoutToken(sub string) string {
	f.t.Helper()
	return testenv.SignJWT(f.t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: f.logoutKey, KeyID: "logout-signer"}},
		(&jose.SignerOptions{}).WithType("logout+jwt"), map[string]any{
			"iss": f.cfg.Issuer, "aud": f.cfg.ClientID, "iat": time.Now().Unix(), "jti": randomString(16),
			"sub": sub, "events": map[string]any{backchannel.Event: map[string]any{}},
		})
}

// commandCalls sums Redis's per-command call counters, leaving out INFO
// itself.
func (f *fleet) commandCalls() int {
	f.t.Helper()
	info, err := f.rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		v, _ := strconv.Atoi(calls)
		n += v
	}
	return n
}

// jsonError reads an OAuth-style JSON error body.
func jsonError(body string) (code, desc string) {
	var v struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	json.Unmarshal([]byte(body), &v)
	return v.Error, v.Desc
}

// TestFleet runs three replicas behind a round-robin front on one Redis and
// one Dex (strict refresh-token rotation), and checks what a fleet must do:
// a session and an iframe sign-in work on any replica, refresh storms cost
// one grant each, logout and back-channel logout end sessions (and their
// WebSockets) on every replica, a bearer-only request never touches Redis,
// and a Redis outage answers 503 without signing anyone out.
func TestFleet(t *testing.T) {
	f := newFleet(t, 3)
	n := len(f.replicas)

	t.Run("iframe sign-in claimed on another replica", func(t *testing.T) {
		secret := randomString(32)
		p := f.signInPopup(testenv.NewClient(), randomString(16), secret)
		if p.code == "" {
			t.Fatalf("popup page without a code: %d", p.status)
		}
		completed := f.servedBy(Prefix + "callback")
		a := f.claim(p.channel, p.secret, p.code)
		if claimed := f.servedBy(Prefix + "claim"); claimed == completed {
			t.Fatalf("the claim went to replica %d, the one that completed the sign-in", claimed)
		}
		if a.status != 200 || a.embed == nil {
			t.Fatalf("claim on another replica: %d %v", a.status, a.body)
		}
		if tok := f.embedToken(a.embed); tok.status != 200 {
			t.Fatalf("the claimed session: %v", tok)
		}
		if again := f.claim(p.channel, p.secret, p.code); again.status != http.StatusConflict {
			t.Fatalf("a second claim (another replica): %d", again.status)
		}
	})

	c := testenv.NewClient()
	f.signIn(c, users[0], "/")
	t.Run("a session works on every replica", func(t *testing.T) {
		var first string
		for i := range n {
			resp, body := f.on(c, i, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
			var tok tokenResponse
			json.Unmarshal([]byte(body), &tok)
			if resp.StatusCode != 200 || tok.AccessToken == "" || (first != "" && tok.AccessToken != first) {
				t.Fatalf("token on replica %d: %d %s", i, resp.StatusCode, body)
			}
			first = tok.AccessToken
			if resp, body := f.on(c, i, "GET", "/data", nil); resp.StatusCode != 200 || body != "app" {
				t.Fatalf("proxied request with the session on replica %d: %d %s", i, resp.StatusCode, body)
			}
		}
	})

	t.Run("refresh storms cost one grant each", func(t *testing.T) {
		var lat []time.Duration
		for storm := range 5 {
			f.expire(c)
			before := f.tokenCalls.Load()
			got := make([]tokenAnswer, 100)
			took := make([]time.Duration, len(got))
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() {
					start := time.Now()
					got[i] = f.token(c, nil) // the front spreads them over the replicas
					took[i] = time.Since(start)
				})
			}
			wg.Wait()
			for i, a := range got {
				if a.status != 200 || a.body["access_token"] != got[0].body["access_token"] {
					t.Fatalf("storm %d, caller %d: %v", storm, i, a)
				}
			}
			if grants := f.tokenCalls.Load() - before; grants != 1 {
				t.Fatalf("storm %d over %d replicas: %d refresh grants, want 1", storm, n, grants)
			}
			lat = append(lat, took...)
		}
		slices.Sort(lat)
		t.Logf("storm latency over %d replicas (%d requests): p50 %v, p99 %v, max %v",
			n, len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	})

	t.Run("a bearer-only request makes no Redis call", func(t *testing.T) {
		tok := f.token(c, nil)
		at, _ := tok.body["access_token"].(string)
		bearer := map[string]string{"Authorization": "Bearer " + at}
		plain := &http.Client{Timeout: 10 * time.Second}
		do(t, plain, "GET", f.url+"/data", bearer, "") // warm each replica's validation cache
		before := f.commandCalls()
		for i := range 30 {
			if resp, body := do(t, plain, "GET", f.url+"/data", bearer, ""); resp.StatusCode != 200 {
				t.Fatalf("bearer request %d: %d %s", i, resp.StatusCode, body)
			}
		}
		if calls := f.commandCalls() - before; calls != 0 {
			t.Fatalf("30 bearer-only requests made %d Redis calls, want 0", calls)
		}
		// The session cookie costs one read.
		before = f.commandCalls()
		f.on(c, 1, "GET", "/data", nil)
		if calls := f.commandCalls() - before; calls != 1 {
			t.Fatalf("a session request made %d Redis calls, want 1", calls)
		}
	})

	t.Run("logout on one replica closes a WebSocket on another within 1s", func(t *testing.T) {
		viewer := testenv.NewClient()
		f.signIn(viewer, users[1], "/")
		ws := f.dialOn(t, viewer, 2)
		resp, _ := f.on(viewer, 0, "POST", Prefix+"logout", map[string]string{"X-TokenHook": "1"})
		if resp.StatusCode != 200 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		start := time.Now()
		code, reason := wsCloseStatus(t, ws, 5*time.Second)
		if took := time.Since(start); code != 4401 || took > time.Second {
			t.Fatalf("WebSocket on replica 2 closed with %d %q after %v; want 4401 within 1s", code, reason, took)
		}
	})

	t.Run("back-channel logout ends the sessions on every replica", func(t *testing.T) {
		viewer, ws, sub := f.viewerOn(t, users[2], 1)
		raw := f.logoutToken(sub)
		post := func(i int) (int, string) {
			req, _ := http.NewRequest("POST", f.url+Prefix+"backchannel-logout", strings.NewReader(url.Values{"logout_token": {raw}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(pinReplica, strconv.Itoa(i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if status, body := post(2); status != 200 {
			t.Fatalf("back-channel logout: %d %s", status, body)
		}
		f.wantSignedOut(t, viewer)
		if code, _ := wsCloseStatus(t, ws, time.Second); code != 4401 {
			t.Fatalf("WebSocket on replica 1 closed with %d, want 4401", code)
		}
		for i := range n {
			if status, body := post(i); status != 400 {
				t.Fatalf("replayed logout token on replica %d: %d %s", i, status, body)
			}
		}
	})

	t.Run("an administrator's revoke ends the sessions on every replica", func(t *testing.T) {
		viewer, ws, sub := f.viewerOn(t, users[3], 2)
		start := time.Now()
		ended, err := RevokeSessions(context.Background(), f.cfg, "", sub) // what "tokenhook sessions revoke --sub" runs
		if err != nil || ended != 1 {
			t.Fatalf("revoke: %d sessions, %v", ended, err)
		}
		if code, _ := wsCloseStatus(t, ws, time.Second); code != 4401 {
			t.Fatalf("WebSocket on replica 2 closed with %d, want 4401", code)
		}
		t.Logf("revoke to close frame: %v", time.Since(start))
		f.wantSignedOut(t, viewer)
	})

	t.Run("Redis stopped under load: 503 JSON, nobody signed out, recovery", func(t *testing.T) {
		tok := f.token(c, nil)
		at, _ := tok.body["access_token"].(string)
		if err := f.rc.Save(context.Background()).Err(); err != nil { // the restart loads this
			t.Fatal(err)
		}
		f.redis.Kill(t)
		var mu sync.Mutex
		counts := map[string]int{}
		count := func(what string) { mu.Lock(); counts[what]++; mu.Unlock() }
		stop := time.Now().Add(5 * time.Second)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				plain := &http.Client{Timeout: 10 * time.Second}
				for i := 0; time.Now().Before(stop); i++ {
					r := (w + i) % n
					var resp *http.Response
					var body string
					kind := w % 4
					switch kind {
					case 0:
						resp, body = f.on(c, r, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
					case 1:
						resp, body = f.on(c, r, "GET", "/page", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
					case 2: // a bearer alone: no Redis needed
						resp, body = do(t, plain, "GET", f.url+"/data", map[string]string{"Authorization": "Bearer " + at}, "")
					default: // a bearer with the session cookie: the bearer decides
						resp, body = f.on(c, r, "GET", "/data", map[string]string{"Authorization": "Bearer " + at})
					}
					for _, ck := range resp.Cookies() {
						if strings.Contains(ck.Name, "tokenhook") && ck.MaxAge < 0 {
							t.Errorf("replica %d cleared the session cookie during the outage", r)
						}
					}
					code, desc := jsonError(body)
					switch {
					case kind >= 2 && resp.StatusCode == 200:
						count("bearer 200")
					case kind < 2 && resp.StatusCode == 503 && code == "temporarily_unavailable" && strings.Contains(desc, "redis") &&
						strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
						count("session 503")
					default:
						t.Errorf("during the outage, kind %d on replica %d: %d %s", kind, r, resp.StatusCode, body)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		t.Logf("during 5 s without Redis: %v", counts)
		if counts["session 503"] == 0 || counts["bearer 200"] == 0 {
			t.Fatalf("outage answers %v", counts)
		}
		f.redis.Restart(t)
		start := time.Now()
		for i := 0; i < n; {
			resp, body := f.on(c, i, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
			if resp.StatusCode == 200 {
				i++
				continue
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("replica %d not recovered 10 s after Redis returned: %d %s", i, resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("every replica answered the session again %v after Redis returned", time.Since(start))
	})

	t.Run("Redis flushed: login_required everywhere", func(t *testing.T) {
		if err := f.rc.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		f.wantSignedOut(t, c)
	})
}

// dialOn opens a WebSocket with browser c's session on replica i and checks
// it echoes.
func (f *fleet) dialOn(t *testing.T, c *http.Client, i int) *websocket.Conn {
	t.Helper()
	return dialEcho(t, c, f.url, http.Header{pinReplica: {strconv.Itoa(i)}})
}

// viewerOn signs u in with a new browser and opens a WebSocket of the
// session on replica i; it returns the browser, the socket and u's subject.
func (f *fleet) viewerOn(t *testing.T, u idp.User, i int) (*http.Client, *websocket.Conn, string) {
	t.Helper()
	c := testenv.NewClient()
	f.signIn(c, u, "/")
	return c, f.dialOn(t, c, i), f.subjectOf(c)
}

// subjectOf returns the subject of browser c's session, from userinfo.
func (f *fleet) subjectOf(c *http.Client) string {
	f.t.Helper()
	_, info := f.on(c, 0, "GET", Prefix+"userinfo", map[string]string{"X-TokenHook": "1"})
	var who struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal([]byte(info), &who); who.Sub == "" {
		f.t.Fatalf("userinfo: %s", info)
	}
	return who.Sub
}

// wantSignedOut checks that browser c's session is gone on every replica:
// the token endpoint answers login_required.
func (f *fleet) wantSignedOut(t *testing.T, c *http.Client) {
	t.Helper()
	for i := range f.replicas {
		resp, body := f.on(c, i, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
		if code, _ := jsonError(body); resp.StatusCode != 401 || code != "login_required" {
			t.Fatalf("token on replica %d: %d %s, want 401 login_required", i, resp.StatusCode, body)
		}
	}
}
