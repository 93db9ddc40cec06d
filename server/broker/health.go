package broker

import (
	"sync"
	"time"
)

// Back-off between attempts to reach a provider that failed: it doubles from
// minBackoff up to maxBackoff while the provider keeps failing.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Health tracks whether a provider answers tokenhook's calls, and when the
// next call may be tried after a failure. It is the one back-off path of the
// broker's clients (discovery and token calls alike) and the one place where
// a provider's state is kept for health endpoints and metrics. Safe for
// concurrent use; the zero value is a provider with no failure.
type Health struct {
	mu       sync.Mutex
	since    time.Time // first failure of the current outage; zero when reachable
	lastErr  string
	failures int
	retryAt  time.Time
}

// Fail records a failed call at now. It reports whether this failure started
// an outage (log it once, not per request).
func (h *Health) Fail(now time.Time, err error) (started bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	started = h.since.IsZero()
	if started {
		h.since = now
	}
	h.failures++
	h.lastErr = err.Error()
	h.retryAt = now.Add(min(minBackoff<<min(h.failures-1, 10), maxBackoff))
	return started
}

// OK records a call the provider answered. It reports whether this ended an
// outage.
func (h *Health) OK() (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	recovered = !h.since.IsZero()
	h.since, h.lastErr, h.failures, h.retryAt = time.Time{}, "", 0, time.Time{}
	return recovered
}

// Waiting reports whether calls should wait (back off) at now.
func (h *Health) Waiting(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.retryAt)
}

// RetryAt is when the next call may be tried (zero when reachable).
func (h *Health) RetryAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retryAt
}

// Status is a provider's state as health endpoints and metrics show it.
type Status struct {
	// Client is the client's name ("" for the sign-in provider).
	Client string
	// Discovered is true once the endpoints are known.
	Discovered bool
	// UnreachableSince is the start of the current outage (zero when the
	// last call was answered).
	UnreachableSince time.Time
	// LastError is the last failure (never holds a token).
	LastError string
	// Failures counts failed calls in the current outage.
	Failures int
	// RetryAt is when the next call will be tried.
	RetryAt time.Time
	// Refreshes and Refusals count refresh grants since start: answered
	// with a token, and refused by the provider. Failures to reach it are
	// in Failures.
	Refreshes, Refusals int64
}

// String is the state in a few words: "ok", "not discovered yet" or
// "unreachable since 2026-11-29T20:00:00Z (…)".
func (s Status) String() string {
	switch {
	case !s.UnreachableSince.IsZero():
		return "unreachable since " + s.UnreachableSince.UTC().Format(time.RFC3339) + " (" + s.LastError + ")"
	case !s.Discovered:
		return "not discovered yet"
	}
	return "ok"
}

func (h *Health) status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Status{UnreachableSince: h.since, LastError: h.lastErr, Failures: h.failures, RetryAt: h.retryAt}
}
