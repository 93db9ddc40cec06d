package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/rendezvous"
	"github.com/tokenhook/tokenhook/server/verify"
)

// TestDrainFinishesRequestsInFlight: a proxied request still waiting for a
// slow upstream when Serve's context ends (SIGTERM) gets the upstream's
// whole answer; it is not cancelled by the signal.
func TestDrainFinishesRequestsInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(time.Second)
		io.WriteString(w, "slow answer")
	}))
	defer up.Close()
	route, err := verify.ParseRoute("/slow")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(_ *testEnv, c *Config) {
		c.Upstream, c.SkipAuth = up.URL, []verify.Route{route}
	})
	type answer struct {
		status int
		body   string
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := (&http.Client{Timeout: 10 * time.Second}).Post(e.url+"/slow", "text/plain", bytes.NewReader([]byte("x")))
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		got <- answer{status: r.StatusCode, body: string(b)}
	}()
	<-arrived
	e.cancel()
	if a := <-got; a.err != nil || a.status != http.StatusOK || a.body != "slow answer" {
		t.Fatalf("request in flight during the drain: %+v; want 200 and the upstream's answer", a)
	}
}

// TestDrainAnswersLongPoll: when Serve starts draining, a sign-in claim
// waiting for its popup is answered at once with "pending" (the script asks
// again, on the next process after a restart) instead of holding the
// shutdown for its 25 s wait or being cut off.
func TestDrainAnswersLongPoll(t *testing.T) {
	e := newEnv(t)
	secret, channel := randomString(32), randomString(16)
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"popup": {"1"}, "channel": {channel}, "challenge": {rendezvous.Challenge(secret)}}
	resp, err := noRedirect.Get(e.url + "/_tokenhook/login?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login for the popup: %d", resp.StatusCode)
	}

	type answer struct {
		status int
		body   map[string]string
		after  time.Duration
		err    error
	}
	got := make(chan answer, 1)
	start := time.Now()
	go func() {
		body, _ := json.Marshal(map[string]string{"channel": channel, "secret": secret})
		req, _ := http.NewRequest("POST", e.url+"/_tokenhook/claim", bytes.NewReader(body))
		req.Header.Set("X-TokenHook", "1")
		r, err := (&http.Client{Timeout: 40 * time.Second}).Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer r.Body.Close()
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		got <- answer{status: r.StatusCode, body: m, after: time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond) // the claim is waiting now
	select {
	case a := <-got:
		t.Fatalf("the claim did not wait: %+v", a)
	default:
	}
	e.cancel() // what SIGTERM does in tokenhook serve
	a := <-got
	if a.err != nil || a.status != http.StatusAccepted || a.body["status"] != "pending" {
		t.Fatalf("claim during the drain: %+v; want 202 pending", a)
	}
	if a.after > 5*time.Second {
		t.Errorf("the claim was answered after %v; the drain must answer it at once", a.after)
	}
}
