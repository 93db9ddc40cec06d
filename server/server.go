// Package server is tokenhook's HTTP server: it composes the sign-in flow
// (package signin), server-side sessions, the token endpoint the browser
// hook calls, the reverse proxy, and the routes under /_tokenhook/.
package server

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/jsbundle"
	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/handover"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/metrics"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/proxy"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/rendezvous"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/signin"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Prefix is the path prefix of every route tokenhook serves itself, the
// browser script's included (jsbundle serves it there, hence the one
// definition lives in jsbundle).
const Prefix = jsbundle.Prefix

// Server is a configured tokenhook server. Create it with New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	claims claimsMemo    // sessions' decoded claims, by their JSON
	store  session.Store // announces deleted sessions on bus (endingStore)
	finder findingStore  // the store itself: finds sessions by sid or sub
	bus    session.Bus   // "session ended" events of every replica
	client *http.Client  // for calls to the identity provider

	sessions    *signin.Sessions // the session cookie: finds a request's session
	signIn      *signin.Flow     // login, callback, logout
	rendezvous  rendezvous.Store
	connections *assertion.Connections
	assertions  *assertion.Signer
	pageDPoP    *pageDPoP    // the dpop mode of --browser-token, nil in the others
	upstream    *proxy.Proxy // the proxy to Config.Upstream, nil without one
	verifier    *verify.Verifier
	secure      bool

	broker *broker.Broker // the OAuth clients, their providers' state, token refresh
	// metrics is nil unless Config.MetricsAddr is set; audit writes the
	// audit lines; storeName labels store errors.
	metrics   *metrics.Metrics
	audit     *audit.Log
	storeName string
	states    once.Store            // used sign-in states
	reach     *reachability         // whether our calls reach the provider
	limits    [2]*ratelimit.Limiter // sign-in starts and claims, per client address

	draining  chan struct{} // closed when Serve starts draining
	drainOnce sync.Once

	bundle   *jsbundle.Bundle
	handover *handover.Handover // the iframe hand-over's endpoints and pages
	handler  http.Handler
	mux      *http.ServeMux
	now      func() time.Time
}

// Config is the server's configuration, loaded and validated by package
// config (flags, environment, YAML file) or filled in code.
type Config = config.Config

// New validates cfg, opens the session store and starts discovering the
// provider in the background (readyz reports when it is done). ctx bounds the
// background work.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      logger,
		draining: make(chan struct{}),
		now:      time.Now,
		secure:   strings.HasPrefix(cfg.PublicURL, "https://"),
	}
	if cfg.MetricsAddr != "" {
		s.metrics = metrics.New()
	}
	s.audit = audit.New(logger, cmp.Or(cfg.Issuer, cfg.AuthURL))
	s.storeName = storeName(cfg)
	s.reach = newReachability(logger, s.now, cfg.Issuer, cfg.AuthURL, cfg.TokenURL)
	s.client = &http.Client{Timeout: 15 * time.Second, Transport: reachTransport{http.DefaultTransport, s.reach}}
	s.limits = [2]*ratelimit.Limiter{newSignInLimiter(), newSignInLimiter()}
	hashKey, blockKey, err := cookieKeys(cfg.CookieSecret)
	if err != nil {
		return nil, err
	}
	storeKey, err := derive(cfg.CookieSecret, storeKeyPurpose, 32)
	if err != nil {
		return nil, err
	}
	known, err := assertion.ResolveConnections(cfg.Connections)
	if err != nil {
		return nil, err
	}
	if s.assertions, err = newAssertionSigner(cfg.CookieSecret); err != nil {
		return nil, err
	}
	s.signIn = signin.New(hashKey, blockKey, s.secure)

	sh, err := openStore(ctx, cfg, storeKey)
	if err != nil {
		return nil, err
	}
	s.finder, s.states, s.rendezvous, s.bus = sh.store, sh.states, sh.rendezvous, sh.bus
	if cfg.BrowserToken == config.BrowserTokenDPoP {
		if s.pageDPoP, err = newPageDPoP(cfg, s.assertions, sh.dpopReplay); err != nil {
			return nil, err
		}
	}
	s.store = endingStore{Store: sh.store, bus: sh.bus, log: logger}
	s.sessions = signin.NewSessions(s.store, hashKey, blockKey, s.secure, cfg.SessionTTL)
	s.sessions.StoreError = func() { s.metrics.StoreError(s.storeName) }
	s.connections = &assertion.Connections{Known: known, Session: s.sessions.Load, Begin: s.signIn.BeginConnect, SafeRedirect: signin.SafeRedirect,
		LoginPath: Prefix + "login", ConnectPath: Prefix + "connect/", Log: logger, Now: func() time.Time { return s.now() }}
	var sessions func() int
	switch st := sh.store.(type) {
	case *session.Memory:
		sessions = st.Len
	case interface {
		Count(context.Context) (int, error)
	}:
		sessions = sessionCount(ctx, st.Count, 15*time.Second, s.now)
	}
	if s.broker, err = s.newBroker(s.observeLocker(sh.lock)); err != nil {
		return nil, err
	}
	s.connections.Broker = s.broker

	if s.bundle, err = jsbundle.Build(); err != nil {
		return nil, fmt.Errorf("build the browser script: %w", err)
	}
	if s.handover, err = handover.New(s.bundle.ScriptTag("data-reload", "data-gate")); err != nil {
		return nil, err
	}
	s.handover.Rendezvous, s.handover.Origin, s.handover.ConfirmPath = s.rendezvous, cfg.PublicURL, Prefix+"confirm"
	s.handover.SetSession = s.sessions.SetEmbed
	s.handover.UntilDrain, s.handover.Log = s.untilDrain, logger
	f := s.signIn
	f.Broker, f.Sessions, f.States, f.Handover, f.Connections, f.Audit = s.broker, s.sessions, s.states, s.handover, s.connections, s.audit
	f.Reachable = func(ctx context.Context, authURL string) bool { return s.reach.reachable(ctx, s.client, authURL) }
	f.Client, f.Scopes, f.SessionTTL, f.UserinfoURL = s.client, cfg.Scopes, cfg.SessionTTL, cfg.UserinfoURL
	f.ClientID, f.Origin, f.LoginPath, f.Log = cfg.ClientID, cfg.PublicURL, Prefix+"login", logger
	f.Now = func() time.Time { return s.now() } // read at each call: tests move the clock
	if cfg.Upstream != "" {
		vc := verify.Config{Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			GroupsClaim: cfg.GroupsClaim, Introspect: verify.IntrospectMode(cfg.Introspect), HTTPClient: s.client,
			TrustedProxies: cfg.TrustedProxies}
		if s.metrics != nil {
			vc.Observe = s.metrics.Bearer
		}
		if cfg.Issuer == "" {
			vc.Issuer, vc.SkipDiscovery, vc.UserinfoURL = cfg.AuthURL, true, cfg.UserinfoURL
		}
		if s.verifier, err = verify.New(ctx, vc); err != nil {
			return nil, fmt.Errorf("bearer validation: %w", err)
		}
		if s.upstream, err = s.newUpstream(); err != nil {
			return nil, err
		}
	}
	if s.upstream != nil {
		// Sessions ended on any replica close their WebSockets here.
		stop := s.bus.Subscribe(s.upstream.CloseSession)
		context.AfterFunc(ctx, stop)
	}
	st := metrics.State{Providers: s.broker.Status, Sessions: sessions}
	if s.upstream != nil {
		st.WebSockets = s.upstream.OpenWebSockets
	}
	s.metrics.Watch(st)
	s.mux = http.NewServeMux()
	s.routes()
	if cfg.Issuer != "" {
		bc, err := s.backchannelHandler(ctx)
		if err != nil {
			return nil, err
		}
		s.mux.Handle("POST "+Prefix+"backchannel-logout", bc)
	}
	s.handler = s.logRequests(s.mux)
	go s.broker.DiscoverSignIn(ctx)
	go s.sweep(ctx)
	return s, nil
}

// cookieKeys are the keys that authenticate and encrypt tokenhook's
// cookies (the session cookie and the sign-in transaction).
func cookieKeys(secret []byte) (hashKey, blockKey []byte, err error) {
	if hashKey, err = derive(secret, "tokenhook cookie mac v1", 32); err != nil {
		return nil, nil, err
	}
	if blockKey, err = derive(secret, "tokenhook cookie enc v1", 32); err != nil {
		return nil, nil, err
	}
	return hashKey, blockKey, nil
}

// storeKeyPurpose derives the key that seals sessions in the store.
const storeKeyPurpose = "tokenhook session store v1"

// newAssertionSigner is the session assertion signer of the cookie secret,
// so every instance sharing the secret signs alike and upstreams can check
// assertions against /_tokenhook/jwks.json.
func newAssertionSigner(secret []byte) (*assertion.Signer, error) {
	seed, err := derive(secret, "tokenhook session assertion v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return assertion.NewSigner(seed)
}

// assertionAudience is the audience of session assertions: the configured
// one, or the upstream URL.
func (s *Server) assertionAudience() string {
	if s.cfg.AssertionAudience != "" {
		return s.cfg.AssertionAudience
	}
	return s.cfg.Upstream
}

// derive returns a key for one purpose from the cookie secret (HKDF-SHA256).
func derive(secret []byte, purpose string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, purpose, n)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	return k, nil
}

func (s *Server) routes() {
	m := s.mux
	// Unauthenticated sign-in steps are limited per client address.
	m.HandleFunc("GET "+Prefix+"login", s.limited(s.limits[0], true, s.signIn.Login))
	m.HandleFunc("GET "+Prefix+"callback", s.limited(s.limits[0], true, s.signIn.Callback))
	m.HandleFunc("POST "+Prefix+"confirm", s.limited(s.limits[0], true, s.handover.Confirm))
	m.HandleFunc("POST "+Prefix+"logout", s.signIn.Logout)
	m.Handle("GET "+Prefix+"token", s.tokenEndpoint())
	m.HandleFunc("POST "+Prefix+"claim", s.limited(s.limits[1], false, s.handover.Claim))
	m.HandleFunc("GET "+Prefix+"connect/{name}", s.connections.Connect)
	m.HandleFunc("GET "+Prefix+"connections", s.connections.List)
	m.Handle("POST "+Prefix+"exchange", &assertion.Exchange{
		Signer: s.assertions, Issuer: s.cfg.PublicURL, Audience: s.assertionAudience(), Secret: s.cfg.ExchangeSecret,
		Connections: s.connections.Has,
		Sessions:    s.store, Tokens: s.broker, ConnectPath: Prefix + "connect/", Log: s.log,
		Now: func() time.Time { return s.now() }, // read at each call: tests move the clock
	})
	m.Handle("GET "+Prefix+"jwks.json", s.assertions.JWKS())
	m.HandleFunc("DELETE "+Prefix+"connections/{name}", s.connections.Disconnect)
	m.HandleFunc("GET "+Prefix+"userinfo", s.handleUserinfo)
	m.HandleFunc("GET "+Prefix+"healthz", s.handleHealth)
	m.HandleFunc("GET "+Prefix+"readyz", s.handleReady)
	// tokenhook.js and tokenhook.<hash>.js; the bundle answers 404 for
	// other names.
	m.Handle("GET "+Prefix+"{asset}", s.bundle.Handler())
	m.HandleFunc("/", s.forward)
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		answer.Error(w, http.StatusNotFound, "not_found", "no such tokenhook endpoint")
	})
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx ends, then drains: it stops
// accepting connections, lets in-flight requests finish (for up to
// Config.ShutdownTimeout), answers tokenhook's own long-polls at once so the
// script asks again (on the new process, after a restart), and closes idle
// keep-alive connections so browsers reconnect to whoever listens next.
// Requests are not cancelled when ctx ends, only when the drain's time is up.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout/WriteTimeout: proxied uploads, WebSockets and
		// long-polls are legitimately long. Our own handlers bound their
		// outgoing calls with timeouts instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return base },
	}
	// Shutdown neither waits for nor closes hijacked connections: drain the
	// long-polls and close proxied WebSockets with a close frame (1001).
	hs.RegisterOnShutdown(s.startDrain)
	hs.RegisterOnShutdown(s.closeWebSockets)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := s.cfg.ShutdownTimeout // Validate's default: 10 s
	s.log.Info("draining: no new connections; waiting for requests in flight", "timeout", timeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("closing connections still open after the shutdown timeout", "timeout", timeout, "err", err)
		cancelRequests()
		hs.Close()
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return nil
}

// startDrain ends tokenhook's own long-polls (see untilDrain).
func (s *Server) startDrain() { s.drainOnce.Do(func() { close(s.draining) }) }

// untilDrain returns r's context, also cancelled when the server starts
// draining, for handlers that hold a request open while waiting for
// something (the sign-in claim): they answer "not yet" at once and the
// script asks again. Call stop when done.
func (s *Server) untilDrain(r *http.Request) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// sweep removes ended sessions from the store once an hour; Redis ends
// them itself (a session's key lives as long as the session).
func (s *Server) sweep(ctx context.Context) {
	sw, ok := s.finder.(interface {
		Sweep(context.Context) (int, error)
	})
	if !ok {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := sw.Sweep(ctx); err != nil {
			s.log.Warn("session sweep failed", "err", err)
		} else if n > 0 {
			s.log.Info("ended sessions removed", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statusWriter records the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one access-log line per request. It logs the path only,
// never the query (the callback's query carries the authorization code) and
// never headers (they carry tokens and cookies).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.metrics.Request(routeClass(r), sw.status)
		if !s.log.Enabled(r.Context(), slog.LevelDebug) && !strings.HasPrefix(r.URL.Path, Prefix) {
			return // proxied traffic is logged at debug level only
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("dur", s.now().Sub(start)))
	})
}
