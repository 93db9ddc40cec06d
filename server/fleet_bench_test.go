package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// BenchmarkProxiedBearerByStore compares proxied bearer requests (no
// cookie) through a tokenhook on the file store and one on the Redis store,
// in alternating batches, and reports redis/file throughput as "ratio"
// (goal ≥ 0.97: a bearer-only request never touches the store). Both
// validate the same Dex access token. Run it with e.g. -benchtime=20x.
func BenchmarkProxiedBearerByStore(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	b.Cleanup(app.Close)
	idpLn, fileLn := localListener(b), localListener(b)
	fileURL, issuer := "http://"+fileLn.Addr().String(), "http://"+idpLn.Addr().String()+"/dex"
	p, err := idp.Start(ctx, idp.Options{Issuer: issuer, Listener: idpLn, Users: users,
		Clients: []idp.Client{{ID: "tokenhook", Secret: testSecret, RedirectURIs: []string{fileURL + "/_tokenhook/callback"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	cfg := Config{PublicURL: fileURL, Issuer: issuer, ClientID: "tokenhook", ClientSecret: testSecret,
		CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), Upstream: app.URL, DataDir: b.TempDir()}
	start := func(cfg Config) *Server {
		s, err := New(ctx, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); s.broker.SignIn().Provider() == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("provider not discovered")
			}
		}
		return s
	}
	fileSrv := start(cfg)
	go fileSrv.Serve(ctx, fileLn)
	cfg.SessionStore, cfg.DataDir = "redis://"+testenv.StartRedis(b).Addr(b)+"/0", ""
	redisLn := localListener(b) // served the same way as the file store's
	go start(cfg).Serve(ctx, redisLn)
	redisURL := "http://" + redisLn.Addr().String()

	// Sign in once for a Dex access token both accept.
	token := benchAccessToken(b, fileURL)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	get := func(u string) func() {
		return func() {
			req, _ := http.NewRequest("GET", u+"/data", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			testenv.Send(b, client, req, http.StatusOK)
		}
	}
	testenv.CompareThroughput(b, 400, 16, [2]string{"file", "redis"}, [2]func(){get(fileURL), get(redisURL)})
}

// benchAccessToken signs users[0] in at the tokenhook server at base and
// returns the access token its token endpoint answers.
func benchAccessToken(b *testing.B, base string) string {
	b.Helper()
	c := testenv.NewClient()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, base+"/_tokenhook/login?rd=%2F", users[0].Email, users[0].Password,
		func(next *url.URL) bool {
			return next.Path != "/_tokenhook/callback" && strings.HasPrefix(next.String(), base)
		})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/_tokenhook/token", nil)
	req.Header.Set("X-TokenHook", "1")
	if resp, err = c.Do(req); err != nil {
		b.Fatal(err)
	}
	var tok tokenResponse
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		b.Fatalf("no access token: %d", resp.StatusCode)
	}
	return tok.AccessToken
}
