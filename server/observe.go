package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/metrics"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/verify"
)

// storeName is the store label of metrics: file, memory or redis.
func storeName(cfg Config) string {
	switch {
	case redisstore.IsURL(cfg.SessionStore):
		return "redis"
	case cfg.SessionStore == "memory" || cfg.DataDir == "":
		return "memory"
	}
	return "file"
}

// routeClass reduces a request to its metrics route class (never its path).
func routeClass(r *http.Request) metrics.Route {
	p := r.URL.Path
	if !strings.HasPrefix(p, Prefix) {
		if r.Header.Get("Upgrade") != "" {
			return metrics.RouteWebSocket
		}
		return metrics.RouteProxy
	}
	switch name, _, _ := strings.Cut(p[len(Prefix):], "/"); name {
	case "token":
		return metrics.RouteToken
	case "login", "confirm":
		return metrics.RouteLogin
	case "callback":
		return metrics.RouteCallback
	case "logout":
		return metrics.RouteLogout
	case "claim":
		return metrics.RouteClaim
	case "exchange":
		return metrics.RouteExchange
	case "connect", "connections":
		return metrics.RouteConnect
	case "healthz", "readyz":
		return metrics.RouteHealth
	case "backchannel-logout":
		return metrics.RouteBackchannel
	default:
		if strings.HasPrefix(name, "tokenhook") && strings.HasSuffix(name, ".js") {
			return metrics.RouteAsset
		}
		return metrics.RouteOther
	}
}

// observeLocker times the refresh lock's waits when metrics are on (a nil
// lock is the broker's default, made here so it can be timed).
func (s *Server) observeLocker(lock broker.Locker) broker.Locker {
	if s.metrics == nil {
		return lock
	}
	if lock == nil {
		lock = broker.NewStripedLocker()
	}
	return s.metrics.Locker(lock)
}

// onRefresh records a refresh at a provider: its metrics, and audit lines
// when it failed or ended the session.
func (s *Server) onRefresh(e broker.RefreshEvent) {
	s.metrics.Refresh(e)
	if e.Err == nil {
		return
	}
	ctx := context.Background()
	client := e.Client
	if client == "" {
		client = metrics.SignInClient
	}
	switch {
	case e.Client == "" && errors.Is(e.Err, broker.ErrLoginRequired):
		s.audit.Record(ctx, audit.SessionEnded, e.Subject, slog.String("reason", "refresh token refused"))
	case errors.Is(e.Err, broker.ErrConnectionRequired):
		s.audit.Record(ctx, audit.RefreshFailed, e.Subject, slog.String("client", client), slog.String("reason", "connection refresh token refused"))
	default:
		s.audit.Record(ctx, audit.RefreshFailed, e.Subject, slog.String("client", client), slog.String("reason", refreshReason(e.Err)))
	}
}

// refreshReason is a failed refresh's cause in a few fixed words (error
// texts may name provider URLs; never tokens, but keep the line short).
func refreshReason(err error) string {
	var re *broker.RefreshError
	switch {
	case errors.As(err, &re):
		return "refused by the provider"
	case errors.Is(err, broker.ErrUnavailable):
		return "provider unavailable"
	}
	var u *session.UnavailableError
	if errors.As(err, &u) {
		return "session store unavailable"
	}
	return "error"
}

// denied writes the audit line of a request an authorization rule refused.
func (s *Server) denied(r *http.Request, id verify.Identity) {
	sub := ""
	if id.Claims != nil {
		sub = id.Claims.Subject
	}
	s.audit.Record(r.Context(), audit.AccessDenied, sub,
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("source", id.Source.String()))
}

// metricsHandler serves the Prometheus metrics, or is nil when
// Config.MetricsAddr is empty. Serve it on its own listener (ServeMetrics),
// never on the public one.
func (s *Server) metricsHandler() http.Handler {
	if s.metrics == nil {
		return nil
	}
	return s.metrics.Handler()
}

// ServeMetrics answers GET /metrics on ln until ctx ends. It returns at once
// when metrics are off.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	h := s.metricsHandler()
	if h == nil {
		return ln.Close()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sessionCount is the active-sessions gauge's reading for stores that can
// count (the file store lists its directory, Redis reads one sorted set):
// one count at most every interval, shared by every scrape; a failed count
// keeps the last value.
func sessionCount(ctx context.Context, count func(context.Context) (int, error), interval time.Duration, now func() time.Time) func() int {
	var mu sync.Mutex
	var last int
	var at time.Time
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); at.IsZero() || t.Sub(at) >= interval {
			at = t
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if n, err := count(cctx); err == nil {
				last = n
			}
			cancel()
		}
		return last
	}
}
