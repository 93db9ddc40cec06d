// Package proxy forwards authenticated requests to the dashboard app: a
// net/http/httputil.ReverseProxy that decides each request's one identity
// (Authenticate), passes it upstream in X-Forwarded-* headers, lets page
// navigations through on the sign-in session, authenticates WebSocket
// upgrades and closes them when their credentials end, and optionally
// injects the tokenhook script tag into proxied HTML pages.
//
// # Which requests need what
//
//   - Requests matching Config.Public, and CORS preflights, are forwarded
//     without any check (and without identity headers).
//   - A request with an Authorization header must carry a valid bearer token
//     (400/401/403 per RFC 6750 otherwise); it is forwarded with identity
//     headers from the token's claims.
//   - Without a bearer: requests that need one (every method other than GET,
//     HEAD and OPTIONS and every path under Config.APIPaths) get 401 with a
//     WWW-Authenticate challenge, never a redirect. Others are forwarded when
//     the sign-in session is valid (Config.Sessions), with identity headers
//     from the session; without a session, page navigations are answered by
//     Config.SignIn and everything else gets 401.
//   - With Config.SessionToken (backend-for-frontend), a session's request
//     the browser script marked with X-TokenHook: 1, not cross-origin, is
//     treated as carrying a bearer and is forwarded with the session's
//     access token as Authorization: Bearer.
//
// # One identity per request
//
// A forwarded request carries exactly one identity. A bearer and a session
// cookie of the same subject are one viewer: the bearer's claims are
// forwarded and the identity names the session (Identity.SessionKey, which
// the server's session assertion follows). A bearer and a session of
// different subjects are refused with 401 invalid_token (ErrIdentityConflict).
// A bearer alone names no session.
//
// # Headers the proxy owns
//
// The identity headers (X-Forwarded-User, -Email, -Groups,
// -Preferred-Username), every header starting with X-TokenHook and the names
// in Config.OwnedHeaders are removed from what the client sent, in every
// spelling a backend may read as the same name (any case, "_" for "-"),
// before the proxy sets its own; for HTTP requests and WebSocket upgrades
// alike.
//
// # WebSockets
//
// An upgrade is authenticated, in this order, by an Authorization bearer
// header (non-browser clients), by a bearer carried as the subprotocol
// "base64url.bearer.authorization.k8s.io.<base64url(token)>" (Kubernetes
// style; the client must offer another subprotocol too, the token protocol is
// removed before forwarding so the upstream echoes the other one), or by the
// session plus an Origin header exactly equal to Config.PublicOrigin or one of
// Config.AllowedOrigins (else 403).
//
// When the credentials end during an open connection, the proxy sends the
// client a WebSocket close frame with code CloseCredentialsEnded (4401) and
// a reason, then closes the connection: a bearer connection at the token's
// expiry; a connection of a session at once when the server reports the
// session's end (CloseSession), and otherwise when a periodic re-check
// (Config.SessionRecheck, default one minute, and at the session's expiry)
// finds it gone. CloseWebSockets closes every open connection (1001 on
// shutdown). Clients reconnect and authenticate afresh.
package proxy

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Identity headers set from validated claims. Values sent by the client are
// always removed.
const (
	HeaderUser              = "X-Forwarded-User"
	HeaderEmail             = "X-Forwarded-Email"
	HeaderGroups            = "X-Forwarded-Groups"
	HeaderPreferredUsername = "X-Forwarded-Preferred-Username"
)

// WebSocketTokenPrefix starts the subprotocol that carries a bearer token.
const WebSocketTokenPrefix = "base64url.bearer.authorization.k8s.io."

// Defaults for zero Config fields.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultSessionRecheck        = time.Minute
	DefaultMaxInjectSize         = 10 << 20
)

// TokenVerifier validates bearer tokens presented by a client (its key of
// ratelimit.Proxies.Client); *verify.Verifier implements it.
type TokenVerifier interface {
	VerifyFrom(ctx context.Context, token, client string) (*verify.Claims, error)
}

// Sessions is the sign-in session store as the proxy sees it.
type Sessions interface {
	// Session returns the identity of the request's live sign-in session
	// (Claims set, Claims.Expiry when the session ends, SessionKey naming
	// it), verify.ErrNoToken when the request carries none, or
	// *session.UnavailableError when the store cannot answer now (the
	// proxy answers 503, never a sign-in redirect).
	Session(r *http.Request) (verify.Identity, error)
	// Recheck loads the session id.SessionKey afresh, never from a
	// per-request or per-connection memo, and returns its identity, or
	// false when the session has ended. Open WebSockets call it.
	Recheck(ctx context.Context, id verify.Identity) (verify.Identity, bool)
}

// ErrIdentityConflict refuses a request whose bearer token and session
// cookie belong to different subjects (401 invalid_token).
var ErrIdentityConflict = fmt.Errorf("%w: the bearer token and the session cookie belong to different users; sign in again or drop one of them", verify.ErrInvalidToken)

// Config configures the proxy. Upstream and Verifier are required.
type Config struct {
	// Upstream is the app requests are forwarded to.
	Upstream *url.URL
	// Verifier validates bearer tokens.
	Verifier TokenVerifier
	// Realm is used in WWW-Authenticate challenges (default "tokenhook").
	Realm string
	// Rules restrict paths to users (403 insufficient_scope when not met);
	// they apply to bearer and session identities alike.
	Rules verify.Rules
	// Public routes are forwarded without authentication.
	Public []verify.Route
	// APIPaths are path prefixes under which every request needs a bearer.
	APIPaths []string
	// Sessions reports sign-in sessions. Nil means there are none: only
	// bearers authenticate.
	Sessions Sessions
	// SignIn answers page navigations that have no session (e.g. a redirect
	// to the sign-in page). Nil answers 401.
	SignIn http.Handler
	// PreserveHost forwards the client's Host header instead of the
	// upstream's.
	PreserveHost bool
	// ModifyRequest, when set, is called last when building each upstream
	// request, with the identity it was authenticated as (the zero Identity
	// on public routes); the server adds its own headers here.
	ModifyRequest func(pr *httputil.ProxyRequest, id verify.Identity)
	// OwnedHeaders names further request headers only the proxy's side may
	// set: client-sent values are removed in every spelling (see the package
	// comment). A name ending in "*" is a prefix.
	OwnedHeaders []string
	// StripCookies names the server's own cookies, never forwarded upstream.
	// A name ending in "*" is a prefix.
	StripCookies []string
	// StripAuthorization removes the Authorization header before forwarding
	// (by default it is passed through so the app can call APIs as the viewer).
	StripAuthorization bool
	// PublicOrigin is the proxy's own origin (scheme://host[:port]); cookie
	// authenticated WebSocket upgrades must come from it or AllowedOrigins.
	PublicOrigin string
	// AllowedOrigins are further origins allowed to open WebSockets.
	AllowedOrigins []string
	// SessionRecheck is how often open WebSockets of a session re-check it
	// (default one minute).
	SessionRecheck time.Duration
	// InjectScript, when set, is inserted into proxied HTML pages (before
	// </head>, else after <body…>, else at the start).
	InjectScript string
	// MaxInjectSize bounds the HTML body (compressed and decompressed) that is
	// rewritten; larger pages pass through unchanged (default 10 MB).
	MaxInjectSize int64
	// TrustedProxies are the load balancers in front of the proxy whose
	// X-Forwarded-For names the client that failed token look-ups are
	// charged to (see ratelimit.Proxies). Empty: the connection's peer.
	TrustedProxies ratelimit.Proxies
	// Transport overrides the upstream transport.
	Transport http.RoundTripper
	// DialTimeout and ResponseHeaderTimeout bound upstream connections and
	// waits (defaults 5s and 60s): an unreachable upstream answers 502, a slow
	// one 504.
	DialTimeout, ResponseHeaderTimeout time.Duration
	// Logger receives upstream errors (default: discarded).
	Logger *slog.Logger
	// Denied, when set, is told about every request (WebSocket upgrades
	// too) that Rules refused for an authenticated identity, before the
	// answer is written (for audit logs).
	Denied func(r *http.Request, id verify.Identity)
	// SessionToken, when set, turns on the backend-for-frontend mode
	// (--browser-token none): a request without an Authorization header
	// that carries "X-TokenHook: 1" (which the browser script adds and a
	// cross-site form or <img> cannot) and, where the browser sends them, an
	// Origin equal to PublicOrigin and "Sec-Fetch-Site: same-origin" counts
	// as carrying a bearer (APIPaths, methods other than GET): SessionToken
	// returns the identity of its live session (as Sessions.Session does)
	// and the session's access token, which is forwarded as
	// "Authorization: Bearer <token>" (not with StripAuthorization). An
	// error wrapping verify.ErrNoToken (no session) answers 401, any other
	// 502. Any other request is handled as without SessionToken, and
	// reaches the upstream with no token.
	SessionToken func(r *http.Request) (verify.Identity, string, error)
	// DPoP, when set with SessionToken, turns on the dpop mode
	// (--browser-token dpop) instead: "X-TokenHook: 1" marks nothing, and
	// a request with `Authorization: DPoP …` is handed to DPoP with the
	// identity of its live session (the zero Identity without one). DPoP
	// checks the token and its proof (RFC 9449) and that the token names
	// the session's subject; it answers a refused request itself (with its
	// DPoP challenge) and returns false. An accepted request is forwarded
	// like a SessionToken call, without its Authorization and DPoP headers.
	DPoP func(w http.ResponseWriter, r *http.Request, session verify.Identity) bool
}

// Proxy is the authenticating reverse proxy; it is an http.Handler.
type Proxy struct {
	cfg  Config
	self string // PublicOrigin, normalised

	rp      *httputil.ReverseProxy
	origins map[string]bool
	owned   ownedHeaders
	log     *slog.Logger
	sockets sockets
}

// New returns the proxy handler for cfg.
func New(cfg Config) (*Proxy, error) {
	if cfg.Upstream == nil || cfg.Upstream.Scheme == "" || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: Upstream must be an absolute URL")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("proxy: Verifier is required")
	}
	cfg.Realm = cmp.Or(cfg.Realm, verify.DefaultRealm)
	cfg.DialTimeout = positiveOr(cfg.DialTimeout, DefaultDialTimeout)
	cfg.ResponseHeaderTimeout = positiveOr(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	cfg.SessionRecheck = positiveOr(cfg.SessionRecheck, DefaultSessionRecheck)
	cfg.MaxInjectSize = positiveOr(cfg.MaxInjectSize, DefaultMaxInjectSize)
	p := &Proxy{cfg: cfg, origins: map[string]bool{}, log: cfg.Logger, owned: newOwnedHeaders(cfg.OwnedHeaders)}
	p.sockets.open = map[*wsConn]struct{}{}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range append([]string{cfg.PublicOrigin}, cfg.AllowedOrigins...) {
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("proxy: origin %q is not scheme://host[:port]", o)
		}
		host := strings.ToLower(u.Host)
		if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
			host = host[:strings.LastIndexByte(host, ':')]
		}
		p.origins[strings.ToLower(u.Scheme)+"://"+host] = true
		if p.self == "" {
			p.self = strings.ToLower(u.Scheme) + "://" + host
		}
	}
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			ExpectContinueTimeout: time.Second,
			// Pass the client's Accept-Encoding through untouched instead of
			// letting the transport decompress.
			DisableCompression: true,
		}
	}
	p.rp = &httputil.ReverseProxy{
		Transport:    tr,
		ErrorHandler: p.upstreamError,
		// FlushInterval 0: ReverseProxy already flushes streaming answers
		// (text/event-stream, unknown length) at once.
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	if cfg.InjectScript != "" {
		p.rp.ModifyResponse = p.modifyResponse
	}
	return p, nil
}

// ServeHTTP authenticates r and forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebSocket(r) {
		p.serveWebSocket(w, r)
		return
	}
	for _, rt := range p.cfg.Public {
		if rt.Match(r) {
			if p.cfg.DPoP != nil && dpop.HasScheme(r) {
				r = withoutDPoP(r) // the page's token and proof are for tokenhook
			}
			p.forward(w, r, verify.Identity{})
			return
		}
	}
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		p.forward(w, r, verify.Identity{}) // CORS preflights carry no credentials by design
		return
	}
	if p.cfg.DPoP != nil && p.cfg.SessionToken != nil && dpop.HasScheme(r) {
		p.serveSessionCall(w, r, true)
		return
	}
	token, terr := verify.TokenFromRequest(r)
	if errors.Is(terr, verify.ErrNoToken) && p.sessionCall(r) {
		p.serveSessionCall(w, r, false)
		return
	}
	if errors.Is(terr, verify.ErrNoToken) && p.needsBearer(r) {
		verify.WriteError(w, p.cfg.Realm, terr)
		return
	}
	id, err := p.authenticate(r, token, terr)
	if answer.StoreUnavailable(w, err) {
		return
	}
	if errors.Is(err, verify.ErrNoToken) && isNavigation(r) && p.cfg.SignIn != nil {
		p.cfg.SignIn.ServeHTTP(w, r)
		return
	}
	if err == nil {
		err = p.check(r, id)
	}
	switch {
	case err == nil:
		p.forward(w, r, id)
	case id.Source == verify.SourceSession && isNavigation(r):
		writeHTML(w, http.StatusForbidden, "Access denied", "Your account is not allowed to open this page.")
	default:
		verify.WriteError(w, p.cfg.Realm, err)
	}
}

// Authenticate decides the one identity of r: its Authorization bearer, its
// sign-in session, or both when they name the same subject (see the package
// comment). Errors: verify.ErrNoToken without either, ErrIdentityConflict,
// or the bearer's validation error. Authorization rules are not checked.
func (p *Proxy) Authenticate(r *http.Request) (verify.Identity, error) {
	token, err := verify.TokenFromRequest(r)
	return p.authenticate(r, token, err)
}

// authenticate is Authenticate for a bearer already read from r (the
// Authorization header, or a WebSocket's token subprotocol), or the error
// reading it gave.
func (p *Proxy) authenticate(r *http.Request, token string, tokenErr error) (verify.Identity, error) {
	if errors.Is(tokenErr, verify.ErrNoToken) {
		return p.session(r)
	}
	if tokenErr != nil {
		return verify.Identity{}, tokenErr
	}
	c, err := p.cfg.Verifier.VerifyFrom(r.Context(), token, p.cfg.TrustedProxies.Client(r))
	if err != nil {
		return verify.Identity{}, err
	}
	if c.JKT != "" {
		return verify.Identity{}, verify.ErrBoundToken // a DPoP-bound token without its proof
	}
	id := verify.Identity{Claims: c, Source: verify.SourceBearer}
	s, err := p.session(r)
	switch {
	case err == nil:
		if s.Claims.Subject != c.Subject {
			return verify.Identity{}, ErrIdentityConflict
		}
		id.SessionKey = s.SessionKey
	case !errors.Is(err, verify.ErrNoToken):
		// The store cannot answer: the valid bearer alone decides, without
		// the session's key (no session assertion is added).
		p.log.Warn("proxy: session lookup failed; serving the bearer alone", "err", err)
	}
	return id, nil
}

// session returns the identity of r's live session, verify.ErrNoToken
// without one, or the store's error.
func (p *Proxy) session(r *http.Request) (verify.Identity, error) {
	if p.cfg.Sessions == nil {
		return verify.Identity{}, verify.ErrNoToken
	}
	id, err := p.cfg.Sessions.Session(r)
	if err != nil {
		return verify.Identity{}, err
	}
	if !live(id) {
		return verify.Identity{}, verify.ErrNoToken
	}
	id.Source = verify.SourceSession
	return id, nil
}

// sessionCall reports whether r is a backend-for-frontend call (see
// Config.SessionToken): marked by the browser script and not cross-origin.
// Browsers send Origin on every cross-origin request and on same-origin
// ones other than GET and HEAD, and Sec-Fetch-Site on every request.
func (p *Proxy) sessionCall(r *http.Request) bool {
	if p.cfg.SessionToken == nil || p.cfg.DPoP != nil || r.Header.Get("X-TokenHook") != "1" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, p.self) {
		return false
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin"
}

// withoutDPoP is a copy of r without its Authorization and DPoP headers.
func withoutDPoP(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	r.Header.Del("DPoP")
	return r
}

// serveSessionCall forwards a backend-for-frontend call (sessionCall) of
// a live session, which the authorization rules allow, with the session's
// access token. With dpop, the call is one of the dpop mode (see
// Config.DPoP), which must accept it first.
func (p *Proxy) serveSessionCall(w http.ResponseWriter, r *http.Request, dpop bool) {
	id, tok, err := p.cfg.SessionToken(r)
	if answer.StoreUnavailable(w, err) {
		return
	}
	if err != nil && !errors.Is(err, verify.ErrNoToken) {
		p.log.Warn("proxy: the session's token is unavailable", "err", err)
		w.Header().Set("Cache-Control", "no-store")
		answer.Error(w, http.StatusBadGateway, "temporarily_unavailable", "the provider could not refresh the token; try again")
		return
	}
	if err == nil && !live(id) {
		err = verify.ErrNoToken
	}
	if dpop {
		if err != nil {
			id = verify.Identity{}
		}
		if !p.cfg.DPoP(w, r, id) {
			return
		}
		r = withoutDPoP(r)
	}
	id.Source = verify.SourceSession
	if err == nil {
		err = p.check(r, id)
	}
	if err != nil {
		verify.WriteError(w, p.cfg.Realm, err)
		return
	}
	p.forwardAs(w, r, id, tok)
}

// live reports whether a session identity is usable now.
func live(id verify.Identity) bool {
	return id.Claims != nil && id.SessionKey != "" && (id.Claims.Expiry.IsZero() || time.Now().Before(id.Claims.Expiry))
}

func (p *Proxy) needsBearer(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return true
	}
	for _, prefix := range p.cfg.APIPaths {
		if strings.HasPrefix(r.URL.Path, prefix) {
			return true
		}
	}
	return false
}

// forward sends r upstream as id. The identity reaches the Rewrite hook as
// a value: each request gets its own shallow copy of the ReverseProxy.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, id verify.Identity) {
	p.forwardAs(w, r, id, "")
}

// forwardAs is forward with bearer, when not empty, as the upstream
// request's Authorization (see Config.SessionToken).
func (p *Proxy) forwardAs(w http.ResponseWriter, r *http.Request, id verify.Identity, bearer string) {
	rp := *p.rp
	rp.Rewrite = func(pr *httputil.ProxyRequest) { p.rewrite(pr, id, bearer) }
	rp.ServeHTTP(w, r)
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest, id verify.Identity, bearer string) {
	h := pr.Out.Header
	p.owned.strip(h)
	pr.SetURL(p.cfg.Upstream)
	pr.SetXForwarded()
	if p.cfg.PreserveHost {
		pr.Out.Host = pr.In.Host
	}
	if c := id.Claims; c != nil {
		setHeader(h, HeaderUser, c.Subject)
		setHeader(h, HeaderEmail, c.Email)
		setHeader(h, HeaderPreferredUsername, c.PreferredUsername)
		setHeader(h, HeaderGroups, strings.Join(c.Groups, ","))
	}
	if p.cfg.StripAuthorization {
		h.Del("Authorization")
	} else if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	p.stripCookies(h)
	if p.cfg.InjectScript != "" && pr.In.Method == http.MethodGet && isNavigation(pr.In) {
		// Only identity or gzip bodies can be rewritten.
		if acceptsGzip(pr.In.Header.Get("Accept-Encoding")) {
			h.Set("Accept-Encoding", "gzip")
		} else {
			h.Set("Accept-Encoding", "identity")
		}
	}
	if p.cfg.ModifyRequest != nil {
		p.cfg.ModifyRequest(pr, id)
	}
}

// setHeader sets a header from a claim, dropping characters that cannot
// appear in a header value; empty values are not sent.
func setHeader(h http.Header, k, v string) {
	if strings.ContainsFunc(v, isCtl) {
		v = strings.Map(func(r rune) rune {
			if isCtl(r) {
				return -1
			}
			return r
		}, v)
	}
	if v != "" {
		h[k] = []string{v} // k is already canonical
	}
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

func (p *Proxy) stripCookies(h http.Header) {
	if len(p.cfg.StripCookies) == 0 {
		return
	}
	vals := h.Values("Cookie")
	if len(vals) == 0 {
		return
	}
	var kept []string
	for _, v := range vals {
		for _, part := range strings.Split(v, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if !p.ownCookie(strings.TrimSpace(name)) {
				kept = append(kept, part)
			}
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

func (p *Proxy) ownCookie(name string) bool {
	for _, s := range p.cfg.StripCookies {
		if prefix, ok := strings.CutSuffix(s, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == s {
			return true
		}
	}
	return false
}

// upstreamError answers 504 for timeouts and 502 for anything else, with a
// small HTML page for navigations and JSON otherwise.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return // the client went away
	}
	status, code, msg := http.StatusBadGateway, "bad_gateway", "The application is not reachable."
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		status, code, msg = http.StatusGatewayTimeout, "gateway_timeout", "The application did not answer in time."
	}
	p.log.Warn("proxy: upstream request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	if isNavigation(r) {
		writeHTML(w, status, http.StatusText(status), msg)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	answer.Error(w, status, code, msg)
}

func writeHTML(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>%s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

// isNavigation reports whether r looks like a browser page load.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" {
		return m == "navigate"
	}
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return true
		}
	}
	return false
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

func isWebSocket(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// decodeTokenProtocol returns the bearer carried by a token subprotocol.
func decodeTokenProtocol(proto string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(proto, WebSocketTokenPrefix))
	if err != nil {
		return "", fmt.Errorf("%w: token subprotocol is not base64url", verify.ErrInvalidRequest)
	}
	return verify.ParseAuthorization("Bearer " + string(raw))
}

// check applies Rules to an authenticated identity, telling Config.Denied
// about a refusal.
func (p *Proxy) check(r *http.Request, id verify.Identity) error {
	err := p.cfg.Rules.Check(r.URL.Path, id.Claims)
	if err != nil && p.cfg.Denied != nil {
		p.cfg.Denied(r, id)
	}
	return err
}

// OpenWebSockets is the number of WebSockets open through the proxy now.
func (p *Proxy) OpenWebSockets() int {
	p.sockets.mu.Lock()
	defer p.sockets.mu.Unlock()
	return len(p.sockets.open)
}

// positiveOr is v when it is positive, else the default d.
func positiveOr[T int | int64 | float64 | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}
