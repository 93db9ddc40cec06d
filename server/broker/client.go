package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ClientConfig registers one OAuth client with the broker: the sign-in
// provider's, or a connection's.
type ClientConfig struct {
	// Name is the connection's name; "" is the sign-in provider.
	Name string
	// Issuer, when set, is discovered (OpenID Connect) and its endpoints win
	// over Endpoint.
	Issuer string
	// Endpoint holds explicit endpoints (plain OAuth 2.0 providers).
	Endpoint oauth2.Endpoint
	// ClientID, ClientSecret, Scopes and RedirectURL are the client's
	// registration.
	ClientID, ClientSecret string
	Scopes                 []string
	RedirectURL            string
	// AuthParams are extra authorization request parameters.
	AuthParams map[string]string
	// VerifyIDTokens builds an ID token verifier for the client (the
	// sign-in provider when it is OpenID Connect).
	VerifyIDTokens bool
}

// Provider is a client's resolved provider: its OAuth configuration with
// endpoints, and for OpenID Connect sign-in its ID token verifier and logout
// endpoint. Read-only once published.
type Provider struct {
	// OAuth is the client's configuration with the provider's endpoints.
	OAuth oauth2.Config
	// Verifier checks ID tokens; nil unless ClientConfig.VerifyIDTokens and an
	// issuer.
	Verifier *oidc.IDTokenVerifier
	// EndSession is the RP-initiated logout endpoint, if the provider has one.
	EndSession string
	// KeySet holds the provider's signing keys (its jwks_uri, fetched when
	// first needed), for tokens other than ID tokens that it signs (logout
	// tokens); nil without an issuer or a jwks_uri.
	KeySet oidc.KeySet
	// AuthParams are extra authorization request parameters.
	AuthParams map[string]string
}

// Client is one registered OAuth client: its provider (discovered once, then
// kept) and the provider's health. Safe for concurrent use.
type Client struct {
	cfg     ClientConfig
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	discovering sync.Mutex // one discovery at a time
	provider    atomic.Pointer[Provider]
	health      Health
	refreshes   atomic.Int64 // refresh grants answered with a token
	refusals    atomic.Int64 // refresh grants refused (dead refresh tokens and other OAuth errors)
	stalled     atomic.Int32 // refreshes under way that a caller stopped waiting for
}

// Name is the client's name ("" for the sign-in provider).
func (c *Client) Name() string { return c.cfg.Name }

// Provider returns the resolved provider, or nil before discovery succeeded.
func (c *Client) Provider() *Provider { return c.provider.Load() }

// Status returns the client's provider state.
func (c *Client) Status() Status {
	st := c.health.status()
	st.Client, st.Discovered = c.cfg.Name, c.provider.Load() != nil
	st.Refreshes, st.Refusals = c.refreshes.Load(), c.refusals.Load()
	return st
}

// Discover returns the provider, discovering it first if needed. While the
// provider is backing off after a failure it fails at once with
// ErrUnavailable instead of calling again. The call is bounded by the
// broker's timeout, and runs to its end even if ctx is cancelled (its result
// serves every later caller).
func (c *Client) Discover(ctx context.Context) (*Provider, error) {
	if p := c.provider.Load(); p != nil {
		return p, nil
	}
	c.discovering.Lock()
	defer c.discovering.Unlock()
	if p := c.provider.Load(); p != nil {
		return p, nil
	}
	if c.health.Waiting(c.now()) {
		return nil, c.unavailable()
	}
	p, err := c.resolve(ctx)
	if err != nil {
		c.failed(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.answered()
	c.provider.Store(p)
	return p, nil
}

// resolve builds the Provider, with one discovery call for an issuer.
func (c *Client) resolve(ctx context.Context) (*Provider, error) {
	p := &Provider{OAuth: oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		Scopes: c.cfg.Scopes, RedirectURL: c.cfg.RedirectURL, Endpoint: c.cfg.Endpoint}, AuthParams: c.cfg.AuthParams}
	if c.cfg.Issuer == "" {
		return p, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), c.http), c.timeout)
	defer cancel()
	op, err := oidc.NewProvider(dctx, c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", c.cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
		JWKS       string `json:"jwks_uri"`
	}
	_ = op.Claims(&extra)
	p.OAuth.Endpoint, p.EndSession = op.Endpoint(), extra.EndSession
	if extra.JWKS != "" {
		p.KeySet = oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), c.http), extra.JWKS)
	}
	if c.cfg.VerifyIDTokens {
		// The verifier fetches keys later with its own long-lived context.
		p.Verifier = op.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), c.http), &oidc.Config{ClientID: c.cfg.ClientID})
	}
	return p, nil
}

// Exchange redeems an authorization code (the callback of a sign-in or of a
// connection link), bounded by the broker's timeout. A provider that cannot
// be reached fails with ErrUnavailable; a refused code with a *RefreshError
// naming the OAuth error (never the provider's response body).
func (c *Client) Exchange(ctx context.Context, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	p, err := c.Discover(ctx)
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.http), c.timeout)
	defer cancel()
	tok, err := p.OAuth.Exchange(ectx, code, opts...)
	if err != nil {
		return nil, c.callError("code exchange", err)
	}
	c.answered()
	return tok, nil
}

// callError classifies a failed token endpoint call: an OAuth error answer
// means the provider is up (*RefreshError); anything else marks it
// unreachable (ErrUnavailable).
func (c *Client) callError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		c.answered()
		return &RefreshError{Client: c.cfg.Name, Op: op, Code: re.ErrorCode, Status: re.Response.StatusCode}
	}
	if errors.As(err, &re) && re.Response != nil {
		err = fmt.Errorf("status %s", re.Response.Status) // drop the body: it may echo the request
	}
	err = fmt.Errorf("%s: %w", op, err)
	c.failed(err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unavailable is the error of a call not tried because of back-off.
func (c *Client) unavailable() error {
	st := c.health.status()
	return fmt.Errorf("%w: backing off until %s after: %s", ErrUnavailable, st.RetryAt.Format(time.RFC3339Nano), st.LastError)
}

func (c *Client) failed(err error) {
	if c.health.Fail(c.now(), err) {
		c.log.Warn("provider calls failing: still-valid tokens are served, refreshes back off", "client", c.label(), "err", err)
	}
}

func (c *Client) answered() {
	if c.health.OK() {
		c.log.Info("provider calls answered again", "client", c.label())
	}
}

func (c *Client) label() string {
	if c.cfg.Name == "" {
		return "sign-in"
	}
	return c.cfg.Name
}

// RefreshError is an OAuth error answer of a provider's token endpoint
// (the provider was reached and refused).
type RefreshError struct {
	Client string // "" for the sign-in provider
	Op     string // "refresh" or "code exchange"
	Code   string // the OAuth error code, e.g. invalid_grant (may be empty)
	Status int    // the HTTP status of the answer
}

// Error names the operation, the OAuth error code and the status.
func (e *RefreshError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s refused by the token endpoint: %s (status %d)", e.Op, clip(code, 64), e.Status)
}

// dead reports whether the answer means the refresh token can never work
// again.
func (e *RefreshError) dead() bool {
	return e.Code == "invalid_grant" || e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
