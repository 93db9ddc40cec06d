package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestNilMetricsRecordNothing: with metrics off every hook is a no-op and
// the Locker is not wrapped.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Request(RouteToken, 200)
	m.Bearer(0)
	m.Refresh(broker.RefreshEvent{})
	m.StoreError("file")
	m.Watch(State{WebSockets: func() int { return 1 }})
	l := broker.NewStripedLocker()
	if got := m.Locker(l); got != broker.Locker(l) {
		t.Fatalf("nil Metrics wrapped the locker: %T", got)
	}
}

// TestStatusAndOutcomeClasses checks the label values the hooks choose.
func TestStatusAndOutcomeClasses(t *testing.T) {
	m := New()
	for _, code := range []int{0, 101, 204, 302, 404, 503, 999} {
		m.Request(RouteWebSocket, code)
	}
	m.Refresh(broker.RefreshEvent{Client: "", Took: 10 * time.Millisecond})
	m.Refresh(broker.RefreshEvent{Client: "warehouse", Err: broker.ErrConnectionRequired})
	m.Refresh(broker.RefreshEvent{Client: "warehouse", Err: errors.New("status 502")})
	l := m.Locker(broker.NewStripedLocker())
	unlock, err := l.Lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Lock(ctx, "k"); err == nil {
		t.Fatal("a held lock was taken twice")
	}
	unlock()
	text := scrape(t, m)
	for _, want := range []string{
		`tokenhook_requests_total{code="1xx",route="websocket"} 2`,
		`tokenhook_requests_total{code="2xx",route="websocket"} 1`,
		`tokenhook_requests_total{code="3xx",route="websocket"} 1`,
		`tokenhook_requests_total{code="4xx",route="websocket"} 1`,
		`tokenhook_requests_total{code="5xx",route="websocket"} 2`,
		`tokenhook_refresh_duration_seconds_count{client="_signin",outcome="ok"} 1`,
		`tokenhook_refresh_duration_seconds_count{client="warehouse",outcome="ended"} 1`,
		`tokenhook_refresh_duration_seconds_count{client="warehouse",outcome="failed"} 1`,
		`tokenhook_lock_wait_seconds_count{outcome="acquired"} 1`,
		`tokenhook_lock_wait_seconds_count{outcome="cancelled"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}
