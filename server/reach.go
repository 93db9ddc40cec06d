package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// reachProbeEvery is how often, at most, sign-in starts check again whether
// a provider found unreachable is back.
const reachProbeEvery = 5 * time.Second

// reachProbeTimeout bounds that check (a hung provider answers nothing).
const reachProbeTimeout = 2 * time.Second

// reachFresh is how long a "reachable" outcome is trusted: a sign-in start
// after a quiet minute checks first, so the first viewer after an outage
// began is not sent into a dead host either.
const reachFresh = time.Minute

// reachability remembers whether tokenhook's own calls reach the identity
// provider. Every call through the server's HTTP client to a watched host
// (discovery, code exchange, refresh, keys, introspection) reports its
// outcome: any HTTP answer means reachable, a failed connection or a
// timeout means unreachable. The change is logged once each way, not per
// request.
type reachability struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	hosts   map[string]bool // watched hosts (the provider's)
	down    bool
	seen    time.Time // when the last outcome was reported
	probing bool
}

func newReachability(log *slog.Logger, now func() time.Time, urls ...string) *reachability {
	r := &reachability{log: log, now: now, hosts: map[string]bool{}}
	for _, u := range urls {
		r.watch(u)
	}
	return r
}

// watch adds the host of rawURL to the watched hosts.
func (r *reachability) watch(rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return
	}
	r.mu.Lock()
	r.hosts[u.Host] = true
	r.mu.Unlock()
}

// report records the outcome of a call to host.
func (r *reachability) report(host string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.hosts[host] {
		return
	}
	r.seen = r.now()
	switch {
	case err != nil && !r.down:
		r.down = true
		r.log.Warn("identity provider unreachable; sign-in shows a retry page until it answers again", "host", host, "err", err)
	case err == nil && r.down:
		r.down = false
		r.log.Info("identity provider reachable again", "host", host)
	}
}

// reachable reports whether a viewer may be sent to authURL. When the last
// outcome is stale (reachable but older than reachFresh), or unreachable
// and older than reachProbeEvery, it checks again: one request at a time,
// for at most reachProbeTimeout; meanwhile other callers get the last known
// state at once. So sign-in costs the provider at most one extra request
// per reachProbeEvery, whoever asks.
func (r *reachability) reachable(ctx context.Context, client *http.Client, authURL string) bool {
	r.watch(authURL)
	r.mu.Lock()
	age := r.now().Sub(r.seen)
	if r.probing || !r.down && age < reachFresh || r.down && age < reachProbeEvery {
		up := !r.down
		r.mu.Unlock()
		return up
	}
	r.probing = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.probing = false
		r.mu.Unlock()
	}()
	// The probe ends with the server, not with this request: a viewer who
	// gives up must not leave the answer undecided for everyone.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reachProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, authURL, nil)
	if err != nil {
		return false
	}
	c := *client // any answer will do: redirects are not followed
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req) // reports through the transport
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return true
}

// reachTransport reports each call's outcome to a reachability.
type reachTransport struct {
	base  http.RoundTripper
	reach *reachability
}

// RoundTrip implements http.RoundTripper.
func (t reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	// A call its own caller gave up on says nothing about the provider.
	if err == nil || !errors.Is(req.Context().Err(), context.Canceled) {
		t.reach.report(req.URL.Host, err)
	}
	return resp, err
}
