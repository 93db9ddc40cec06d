// Package metrics is tokenhook's Prometheus instrumentation: the series a
// fleet of tokenhook processes is operated by, on a registry of their own
// (never the global default one), served by Handler on a listener apart from
// the public one. No label ever holds a token, an email, a subject or a raw
// path: routes are reduced to a fixed set of classes and clients to their
// configured names.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Route is the class of a request's route, the only trace of its path in a
// metric.
type Route uint8

// The route classes.
const (
	RouteToken       Route = iota // GET /_tokenhook/token
	RouteLogin                    // sign-in start and confirmation
	RouteCallback                 // the provider's redirect back
	RouteLogout                   // sign-out
	RouteClaim                    // the iframe's claim of its sign-in
	RouteExchange                 // the upstream's token exchange
	RouteConnect                  // connections: link, list, unlink
	RouteHealth                   // healthz, readyz
	RouteBackchannel              // the provider's back-channel logout
	RouteAsset                    // the browser script
	RouteOther                    // any other /_tokenhook/ route
	RouteProxy                    // a request forwarded to the upstream
	RouteWebSocket                // a WebSocket upgrade forwarded to the upstream
	numRoutes
)

var routeNames = [numRoutes]string{"token", "login", "callback", "logout", "claim", "exchange", "connect", "health", "backchannel", "asset", "other", "proxy", "websocket"}

// String is the route class's label value.
func (r Route) String() string {
	if r < numRoutes {
		return routeNames[r]
	}
	return "other"
}

// statusClasses are the label values of status codes by hundreds; a
// response with no status (a hijacked WebSocket whose upstream answered
// 101 on the connection itself) counts as 1xx.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// SignInClient is the client label of the sign-in provider (connection
// names cannot start with an underscore, so it names no connection).
const SignInClient = "_signin"

// Metrics holds tokenhook's series. A nil *Metrics is valid and records
// nothing, so callers need no branch when metrics are off. Safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests    [numRoutes][len(statusClasses)]prometheus.Counter
	bearer      [verify.NumOutcomes]prometheus.Counter
	refresh     *prometheus.HistogramVec
	lockWait    *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
}

// New returns Metrics on a new registry, with Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_requests_total",
		Help: "HTTP requests answered, by route class and status class.",
	}, []string{"route", "code"})
	for r := range numRoutes {
		for i, c := range statusClasses {
			m.requests[r][i] = requests.WithLabelValues(r.String(), c)
		}
	}
	bearer := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_bearer_validations_total",
		Help: "Bearer token validations, by outcome.",
	}, []string{"outcome"})
	for o := range verify.NumOutcomes {
		m.bearer[o] = bearer.WithLabelValues(o.String())
	}
	m.refresh = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tokenhook_refresh_duration_seconds",
		Help:    "Refreshes at the provider, by client and outcome (ok, ended, failed); the count is the number of refreshes.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
	}, []string{"client", "outcome"})
	m.lockWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tokenhook_lock_wait_seconds",
		Help:    "Waits for a session's refresh lock (lease), by outcome (acquired, cancelled, error).",
		Buckets: []float64{.0001, .001, .005, .01, .05, .1, .25, .5, 1, 3, 10},
	}, []string{"outcome"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_store_errors_total",
		Help: "Session store failures seen when loading a request's session, by store.",
	}, []string{"store"})
	m.reg.MustRegister(requests, bearer, m.refresh, m.lockWait, m.storeErrors)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second})
}

// Request counts one answered request of route class r with HTTP status
// code (0 for none written).
func (m *Metrics) Request(r Route, code int) {
	if m == nil {
		return
	}
	i := code/100 - 1
	if code == 0 {
		i = 0
	}
	if r >= numRoutes {
		r = RouteOther
	}
	if i < 0 || i >= len(statusClasses) {
		i = len(statusClasses) - 1
	}
	m.requests[r][i].Inc()
}

// Bearer counts one bearer validation; it fits verify.Config.Observe.
func (m *Metrics) Bearer(o verify.Outcome) {
	if m == nil || o >= verify.NumOutcomes {
		return
	}
	m.bearer[o].Inc()
}

// Refresh records one refresh at a provider; it fits
// broker.Options.OnRefresh.
func (m *Metrics) Refresh(e broker.RefreshEvent) {
	if m == nil {
		return
	}
	client := e.Client
	if client == "" {
		client = SignInClient
	}
	outcome := "ok"
	switch {
	case errors.Is(e.Err, broker.ErrLoginRequired), errors.Is(e.Err, broker.ErrConnectionRequired):
		outcome = "ended"
	case e.Err != nil:
		outcome = "failed"
	}
	m.refresh.WithLabelValues(client, outcome).Observe(e.Took.Seconds())
}

// StoreError counts one failure of the session store named store (file,
// memory, redis).
func (m *Metrics) StoreError(store string) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(store).Inc()
}

// Locker returns l with every Lock's wait timed (tokenhook_lock_wait_seconds).
// A nil *Metrics returns l itself.
func (m *Metrics) Locker(l broker.Locker) broker.Locker {
	if m == nil {
		return l
	}
	return timedLocker{l: l, m: m}
}

type timedLocker struct {
	l broker.Locker
	m *Metrics
}

// Lock implements broker.Locker.
func (t timedLocker) Lock(ctx context.Context, key string) (func(), error) {
	start := time.Now()
	unlock, err := t.l.Lock(ctx, key)
	outcome := "acquired"
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		outcome = "cancelled" // another caller's token arrived first
	case err != nil:
		outcome = "error"
	}
	t.m.lockWait.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return unlock, err
}

// State is what Watch reads at each scrape.
type State struct {
	// Providers returns every client's provider state (broker.Broker.Status).
	Providers func() []broker.Status
	// WebSockets returns the number of open proxied WebSockets (nil: none
	// reported).
	WebSockets func() int
	// Sessions returns the number of live sessions, where the store can
	// count them cheaply (nil: not reported).
	Sessions func() int
}

// Watch registers gauges read from st at each scrape: tokenhook_provider_up
// per client, tokenhook_websockets_open and tokenhook_sessions_active.
func (m *Metrics) Watch(st State) {
	if m == nil {
		return
	}
	if st.Providers != nil {
		m.reg.MustRegister(providerCollector(st.Providers))
	}
	if st.WebSockets != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenhook_websockets_open",
			Help: "WebSockets open through the proxy.",
		}, func() float64 { return float64(st.WebSockets()) }))
	}
	if st.Sessions != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenhook_sessions_active",
			Help: "Sessions held by this process's store (memory store only).",
		}, func() float64 { return float64(st.Sessions()) }))
	}
}

var providerUp = prometheus.NewDesc("tokenhook_provider_up",
	"1 when the client's provider is discovered and answered the last call, else 0.", []string{"client"}, nil)

// providerCollector reads the providers' state at scrape time.
type providerCollector func() []broker.Status

// Describe implements prometheus.Collector.
func (p providerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- providerUp }

// Collect implements prometheus.Collector.
func (p providerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range p() {
		client := st.Client
		if client == "" {
			client = SignInClient
		}
		up := 0.0
		if st.Discovered && st.UnreachableSince.IsZero() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(providerUp, prometheus.GaugeValue, up, client)
	}
}
