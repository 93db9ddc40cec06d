package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// dexProc is Dex (server/testdata/dexproc) running as a process of its own,
// so a test can hang it (SIGSTOP) and take it down (SIGKILL).
type dexProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	issuer string
}

// startDexProc builds and starts dexproc with one client (redirecting to
// redirect) and the user u.
func startDexProc(t *testing.T, redirect string, u struct{ Email, Password string }) *dexProc {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dexproc")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/dexproc").CombinedOutput(); err != nil {
		t.Fatalf("build dexproc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-redirect", redirect, "-client-id", "tokenhook", "-client-secret", testSecret,
		"-email", u.Email, "-password", u.Password)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &dexProc{t: t, cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case d.issuer = <-line:
	case <-time.After(30 * time.Second):
		t.Fatal("dexproc did not start")
	}
	if !strings.HasPrefix(d.issuer, "http://127.0.0.1:") {
		t.Fatalf("dexproc printed %q, want its issuer", d.issuer)
	}
	return d
}

// signal sends sig to Dex and, for SIGSTOP and SIGCONT, returns once it took effect.
func (d *dexProc) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
	// kill(2) returns before the signal is acted on: on a busy machine one of
	// Dex's threads could still answer a request sent right after SIGSTOP.
	// Wait until the kernel reports every thread stopped (or none stopped
	// after SIGCONT).
	var stop bool
	switch sig {
	case syscall.SIGSTOP:
		stop = true
	case syscall.SIGCONT:
	default:
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		states, err := d.threadStates()
		if err != nil {
			d.t.Fatalf("reading Dex's state: %v", err)
		}
		if !strings.ContainsFunc(states, func(r rune) bool { return (r == 'T') != stop }) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("Dex thread states %q after %v", states, sig)
		}
		time.Sleep(time.Millisecond)
	}
}

// threadStates is the state letter of each of Dex's threads (/proc's stat).
func (d *dexProc) threadStates() (string, error) {
	dir := fmt.Sprintf("/proc/%d/task", d.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var states []byte
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// The state follows the parenthesised command name.
		if f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:]); len(f) > 0 {
			states = append(states, f[0][0])
		}
	}
	return string(states), nil
}

// grants is the number of token requests Dex has answered or received.
func (d *dexProc) grants() int {
	d.t.Helper()
	resp, err := http.Get(strings.TrimSuffix(d.issuer, "/dex") + "/dex-test/grants")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, err := strconv.Atoi(string(b))
	if err != nil {
		d.t.Fatalf("grants: %q", b)
	}
	return n
}

// newProcEnv is tokenhook (composed server, file store) in front of a Dex
// process.
func newProcEnv(t *testing.T, refreshTimeout time.Duration) (*testEnv, *dexProc) {
	thLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, logs: &testenv.LogBuffer{}, url: "http://" + thLn.Addr().String()}
	d := startDexProc(t, e.url+"/_tokenhook/callback", struct{ Email, Password string }{users[0].Email, users[0].Password})
	e.cfg = Config{PublicURL: e.url, Issuer: d.issuer, ClientID: "tokenhook", ClientSecret: testSecret,
		CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), DataDir: t.TempDir(), RefreshTimeout: refreshTimeout}
	e.start(thLn)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokenhook log:\n%s", e.logs.String())
		}
	})
	return e, d
}

// expireIn moves the access token of c's session to expire in d, as if it
// had been issued an hour ago (so it is inside the refresh window).
func (e *testEnv) expireIn(c *http.Client, d time.Duration) {
	e.t.Helper()
	sess, key, err := e.srv.sessions.Load(mustReq(c, e.url))
	if err != nil {
		e.t.Fatal(err)
	}
	sess.IssuedAt, sess.Expiry = time.Now().Add(-time.Hour), time.Now().Add(d)
	if err := e.srv.store.Save(context.Background(), key, sess); err != nil {
		e.t.Fatal(err)
	}
}

// health reads healthz or readyz: status code and JSON answer.
func (e *testEnv) health(path string) (int, healthAnswer) {
	e.t.Helper()
	resp, err := http.Get(e.url + Prefix + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a healthAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, a
}

// timedTokens makes n concurrent token requests with a client that gives up
// after limit, and returns the answers and the slowest latency.
func (e *testEnv) timedTokens(c *http.Client, n int, limit time.Duration) ([]tokenAnswer, time.Duration) {
	hc := *c
	hc.Timeout = limit
	got := make([]tokenAnswer, n)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			got[i] = e.token(&hc, nil)
			lat[i] = time.Since(start)
		})
	}
	wg.Wait()
	var worst time.Duration
	for _, l := range lat {
		worst = max(worst, l)
	}
	return got, worst
}

// TestProviderFaults runs the composed server against Dex as a separate
// process: refresh storms cost one grant each; with Dex hung (SIGSTOP) or
// down (killed), viewers whose token is still valid get it without waiting
// for the provider, the provider's state shows in healthz and readyz (which
// stays ready), failed refreshes are retried with back-off rather than per
// request, and everything recovers when Dex answers again.
func TestProviderFaults(t *testing.T) {
	const refreshTimeout = 2 * time.Second
	e, d := newProcEnv(t, refreshTimeout)
	c := e.signedIn(users[0])

	t.Run("storms", func(t *testing.T) {
		for storm := range 5 {
			e.expire(c)
			before := d.grants()
			got, worst := e.timedTokens(c, 100, 20*time.Second)
			for i, a := range got {
				if a.status != 200 || a.body["access_token"] != got[0].body["access_token"] {
					t.Fatalf("storm %d, caller %d: %v", storm, i, a)
				}
			}
			grants := d.grants() - before
			t.Logf("storm %d: 100 requests, %d refresh grant(s) at Dex, slowest answer %v", storm, grants, worst)
			if grants != 1 {
				t.Fatalf("storm %d: %d refresh grants at Dex, want 1", storm, grants)
			}
		}
		if st := e.srv.broker.SignIn().Status(); st.Refreshes != 5 || st.Refusals != 0 || st.Failures != 0 {
			t.Fatalf("broker status after 5 storms: %+v, want 5 refreshes", st)
		}
	})

	t.Run("hung", func(t *testing.T) {
		e.expireIn(c, 30*time.Second)
		valid := currentToken(t, e, c)
		d.signal(syscall.SIGSTOP)
		// A client that gives up after the refresh deadline: waiting for
		// the hung provider would fail these requests.
		got, worst := e.timedTokens(c, 50, refreshTimeout)
		for i, a := range got {
			if a.status != 200 || a.body["access_token"] != valid {
				t.Fatalf("caller %d with a valid token, provider hung: %v", i, a)
			}
		}
		t.Logf("provider hung: 50 concurrent token requests with a valid token, slowest answer %v", worst)

		// The refresh under way ends at its deadline; the provider is then
		// reported unreachable, and readiness is kept.
		deadline := time.Now().Add(refreshTimeout + 3*time.Second)
		for {
			_, h := e.health("healthz")
			if strings.HasPrefix(h.Provider, "unreachable since ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("healthz provider = %q after the refresh deadline", h.Provider)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code, h := e.health("readyz"); code != 200 || h.Status != "ok" || !strings.HasPrefix(h.Provider, "unreachable since ") {
			t.Fatalf("readyz during the outage: %d %+v", code, h)
		}
		// More requests do not each try the provider again.
		for range 20 {
			if a := e.token(c, nil); a.status != 200 || a.body["access_token"] != valid {
				t.Fatalf("valid token while backing off: %v", a)
			}
		}
		if st := e.srv.broker.SignIn().Status(); st.Failures > 2 {
			t.Fatalf("%d failed refresh attempts for 71 requests: not backing off", st.Failures)
		}
		// An expired token cannot be served: a clear error within the
		// refresh deadline, not a 15 s wait.
		e.expire(c)
		got, worst = e.timedTokens(c, 5, refreshTimeout+2*time.Second)
		for i, a := range got {
			if a.status != http.StatusBadGateway || a.body["error"] != "temporarily_unavailable" {
				t.Fatalf("caller %d with an expired token, provider hung: %v", i, a)
			}
		}
		t.Logf("provider hung: expired token answered 502 within %v", worst)

		d.signal(syscall.SIGCONT)
		deadline = time.Now().Add(45 * time.Second)
		for {
			a := e.token(c, nil)
			if a.status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no recovery after the provider came back: %v", a)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, h := e.health("healthz"); h.Provider != "ok" {
			t.Fatalf("healthz provider after recovery = %q", h.Provider)
		}
	})

	t.Run("down", func(t *testing.T) {
		e.expireIn(c, 30*time.Second)
		valid := currentToken(t, e, c)
		d.signal(syscall.SIGKILL)
		d.cmd.Wait()
		got, worst := e.timedTokens(c, 20, refreshTimeout)
		for i, a := range got {
			if a.status != 200 || a.body["access_token"] != valid {
				t.Fatalf("caller %d with a valid token, provider down: %v", i, a)
			}
		}
		t.Logf("provider down: 20 concurrent token requests with a valid token, slowest answer %v", worst)
		if code, h := e.health("readyz"); code != 200 || !strings.HasPrefix(h.Provider, "unreachable since ") {
			t.Fatalf("readyz with the provider down: %d %+v", code, h)
		}
		e.expire(c)
		if a := e.token(c, nil); a.status != http.StatusBadGateway || a.body["error"] != "temporarily_unavailable" {
			t.Fatalf("expired token, provider down: %v", a)
		}
		// The outage did not end the session.
		if r, err := c.Get(e.url + Prefix + "userinfo"); err != nil || r.StatusCode != 200 {
			t.Fatalf("session ended by the outage: %v %v", r, err)
		}
	})
}

// currentToken is the access token stored in c's session.
func currentToken(t *testing.T, e *testEnv, c *http.Client) any {
	t.Helper()
	sess, _, err := e.srv.sessions.Load(mustReq(c, e.url))
	if err != nil {
		t.Fatal(err)
	}
	return sess.AccessToken
}

// TestForcedRefreshCap: the page reports the token refused again and again
// (a resource that refuses it for its own reasons); the server refreshes once
// per forced-refresh interval, and answers the current token in between.
func TestForcedRefreshCap(t *testing.T) {
	const interval = 800 * time.Millisecond
	e := newEnvWith(t, func(_ *testEnv, c *Config) { c.ForcedRefreshInterval = interval })
	c := e.signedIn(users[0])
	at := e.token(c, nil).body["access_token"].(string)
	base := e.tokenCalls.Load()
	first := e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(at)})
	if first.status != 200 || first.body["access_token"] == at || e.tokenCalls.Load()-base != 1 {
		t.Fatalf("first forced refresh: %v (%d grants)", first, e.tokenCalls.Load()-base)
	}
	fresh := first.body["access_token"].(string)
	for i := range 10 {
		a := e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(fresh)})
		if a.status != 200 || a.body["access_token"] != fresh {
			t.Fatalf("report %d within the interval: %v, want the current token", i, a)
		}
	}
	if n := e.tokenCalls.Load() - base; n != 1 {
		t.Fatalf("%d grants for 11 stale reports within the interval, want 1", n)
	}
	time.Sleep(interval)
	if a := e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(fresh)}); a.status != 200 || a.body["access_token"] == fresh || e.tokenCalls.Load()-base != 2 {
		t.Fatalf("forced refresh after the interval: %v (%d grants)", a, e.tokenCalls.Load()-base)
	}
}

// BenchmarkTokenProviderHung measures GET /_tokenhook/token for a session
// whose access token is still valid but inside the refresh window, while the
// provider's token endpoint accepts connections and never answers (a hung
// provider). It reports the slowest answer (goal: under a second).
func BenchmarkTokenProviderHung(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepts: connections wait in the backlog
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	hung := "http://" + ln.Addr().String()
	s, err := New(context.Background(), Config{PublicURL: "http://127.0.0.1:4180", AuthURL: hung + "/a", TokenURL: hung + "/t",
		ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32)), RefreshTimeout: 2 * time.Second, RefreshSkew: time.Hour}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sess := sessionFor(strings.Repeat("t", 900), time.Hour)
	// Issued an hour ago, 20 minutes left: inside the (one hour) window.
	sess.IssuedAt, sess.Expiry = time.Now().Add(-time.Hour), time.Now().Add(20*time.Minute)
	rec := httptest.NewRecorder()
	if _, err := s.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), sess); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/_tokenhook/token", nil)
	req.Header.Set("X-TokenHook", "1")
	req.AddCookie(rec.Result().Cookies()[0])
	h := s.Handler()
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		worst = max(worst, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
