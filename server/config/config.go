package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Config is the server's configuration: everything server.New needs. Load
// builds it from flags, environment and file (inside Options), or fill it in
// code; Validate checks it and fills defaults.
type Config struct {
	// PublicURL is the external base URL browsers use (scheme://host[:port]).
	// https turns on Secure cookies with the __Host- prefix. Empty means
	// http://127.0.0.1:4180 (Options.Validate derives it from Addr).
	PublicURL string

	// Issuer enables OpenID Connect discovery and ID token verification.
	Issuer string
	// AuthURL and TokenURL configure a plain OAuth 2.0 provider instead.
	AuthURL, TokenURL string
	// UserinfoURL is optional for plain OAuth 2.0 providers: its JSON answer
	// becomes the session's claims.
	UserinfoURL string
	// ClientID and ClientSecret are the confidential client's credentials.
	ClientID, ClientSecret string
	// Scopes requested at sign-in.
	Scopes []string

	// Upstream is the dashboard app to forward requests to (optional).
	Upstream string
	// UpstreamTimeout bounds the wait for the upstream's response headers.
	UpstreamTimeout time.Duration
	// Audience is the aud that forwarded bearer tokens must carry (default:
	// ClientID, which is what most providers put in their access tokens).
	Audience string
	// APIPaths are path prefixes where every request needs a bearer token.
	APIPaths []string
	// StripAuthorization removes the Authorization header before forwarding.
	StripAuthorization bool
	// BrowserToken is what the page holds: "bearer" (default: the
	// provider's access token), "dpop" (a short-lived token tokenhook
	// mints, bound to a non-extractable key of the page, RFC 9449) or
	// "none" (backend-for-frontend: no token reaches the page; the proxy
	// adds the session's token to the requests the script marks).
	BrowserToken string
	// Rules restrict who may reach which paths (emails, email domains,
	// groups; the longest matching path prefix applies). The flags
	// --allowed-emails, --allowed-email-domains and --allowed-groups make a
	// rule for "/"; the config file's "rules" list adds per-path ones.
	Rules verify.Rules
	// SkipAuth are routes forwarded without any check (static assets).
	SkipAuth []verify.Route
	// GroupsClaim names the token claim holding groups (default "groups").
	GroupsClaim string
	// Introspect says which bearer tokens are looked up at the provider:
	// auto (default; tokens that are not JWTs, when the provider offers
	// introspection), always (JWTs too, so revoked tokens are refused) or
	// never (opaque tokens are refused without a provider call).
	Introspect string
	// InjectScript inserts tokenhook's script tag into proxied HTML pages, for
	// apps whose pages cannot be edited.
	InjectScript bool
	// CookieSecret (at least 32 bytes) signs and encrypts cookies and, through
	// a derived key, the session files.
	CookieSecret []byte
	// DataDir holds the encrypted session files. Empty keeps sessions in
	// memory only.
	DataDir string
	// SessionStore is where sessions live: "file" (default: in DataDir),
	// "memory", or a Redis URL (see redisstore.ParseURL) shared by replicas.
	SessionStore string
	// SessionStorePassword, when set, replaces the Redis URL's password.
	SessionStorePassword string
	// SessionCacheMB bounds, in MiB, the decrypted sessions the file store
	// keeps in memory (least recently used ones are read from disk again);
	// zero means 64.
	SessionCacheMB int
	// SessionTTL is the longest a session lives, whatever its refresh token says.
	SessionTTL time.Duration
	// RefreshSkew is how long before expiry the token endpoint refreshes an
	// access token (capped at a third of the token's lifetime).
	RefreshSkew time.Duration
	// RefreshTimeout is how long a token request waits for a refresh at the
	// provider (a caller holding a still-valid token gets it sooner), and
	// the deadline of discovery and code exchange calls.
	RefreshTimeout time.Duration
	// ForcedRefreshInterval is the least time between two refreshes forced
	// by the browser hook's stale-token report, per session and client.
	ForcedRefreshInterval time.Duration
	// Connections are the OAuth connections viewers can link besides the
	// sign-in provider (config file key "connections").
	Connections []connection.Spec
	// ExchangeSecret authenticates the upstream at POST /_tokenhook/exchange.
	// Empty allows loopback callers only.
	ExchangeSecret string
	// AssertionAudience is the aud of session assertions (default: Upstream).
	AssertionAudience string

	// TrustedProxies are the load balancers or reverse proxies in front of
	// tokenhook whose X-Forwarded-For names the client (see
	// ratelimit.Proxies); per-client limits then count each viewer, not the
	// balancer. Empty: every client is its connection's peer.
	TrustedProxies ratelimit.Proxies

	// ShutdownTimeout is how long Serve waits for in-flight requests after
	// its context ends (default 10 s); connections still open then are closed.
	ShutdownTimeout time.Duration

	// MetricsAddr is the listen address of the Prometheus metrics
	// (GET /metrics); empty turns metrics off.
	MetricsAddr string
}

// The values of Config.BrowserToken.
const (
	BrowserTokenBearer = "bearer"
	BrowserTokenNone   = "none"
	BrowserTokenDPoP   = "dpop"
)

// Validate checks the configuration and fills defaults (PublicURL, OIDC
// scopes, timeouts). It reports every problem at once: its error is Errors.
func (c *Config) Validate() error {
	var errs Errors
	bad := func(name, reason string) { errs = append(errs, &Error{name, reason}) }
	if c.PublicURL == "" {
		c.PublicURL = "http://" + defaultAddr
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		bad("public-url", fmt.Sprintf("%q must be an http(s) origin like https://dash.example.com (no path)", c.PublicURL))
	} else {
		c.PublicURL = u.Scheme + "://" + u.Host
	}
	switch {
	case c.Issuer != "":
		if err := absURL(c.Issuer); err != nil {
			bad("issuer", err.Error())
		}
		if c.AuthURL != "" || c.TokenURL != "" {
			bad("issuer", "set --issuer or --auth-url/--token-url, not both")
		}
		if len(c.Scopes) == 0 {
			c.Scopes = []string{"openid", "email", "profile", "offline_access"}
		}
	case c.AuthURL != "" || c.TokenURL != "":
		if err := absURL(c.AuthURL); err != nil {
			bad("auth-url", err.Error())
		}
		if err := absURL(c.TokenURL); err != nil {
			bad("token-url", err.Error())
		}
	default:
		bad("issuer", "required: the OpenID Connect issuer (or --auth-url and --token-url)")
	}
	if c.UserinfoURL != "" {
		if err := absURL(c.UserinfoURL); err != nil {
			bad("userinfo-url", err.Error())
		}
	}
	if c.ClientID == "" {
		bad("client-id", "required")
	}
	if c.ClientSecret == "" {
		bad("client-secret", "required (or --client-secret-file)")
	}
	if len(c.CookieSecret) < 32 {
		bad("cookie-secret", fmt.Sprintf("must be at least 32 bytes, got %d (generate one: openssl rand -base64 32)", len(c.CookieSecret)))
	}
	if c.Upstream != "" {
		if err := absURL(c.Upstream); err != nil {
			bad("upstream", err.Error())
		}
		if c.Issuer == "" && c.UserinfoURL == "" {
			bad("userinfo-url", "required with --upstream for plain OAuth 2.0 providers: it validates the bearer tokens")
		}
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = time.Minute
	}
	if c.Audience == "" {
		c.Audience = c.ClientID
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if mode, err := verify.ParseIntrospectMode(c.Introspect); err != nil {
		bad("introspect", fmt.Sprintf("%q: want auto, always or never", c.Introspect))
	} else {
		c.Introspect = string(mode)
	}
	switch c.BrowserToken {
	case "":
		c.BrowserToken = BrowserTokenBearer
	case BrowserTokenBearer, BrowserTokenDPoP, BrowserTokenNone:
	default:
		bad("browser-token", fmt.Sprintf("%q: want bearer, dpop or none", c.BrowserToken))
	}
	for _, r := range c.Rules {
		if !strings.HasPrefix(r.PathPrefix, "/") {
			bad("config", fmt.Sprintf("rules: path %q must start with /", r.PathPrefix))
		}
	}
	for _, p := range c.APIPaths {
		if !strings.HasPrefix(p, "/") {
			bad("api-paths", fmt.Sprintf("%q must start with /", p))
		}
	}
	names := map[string]bool{}
	for _, sp := range c.Connections {
		if _, err := connection.Resolve(sp); err != nil {
			bad("config", err.Error())
		}
		if names[sp.Name] {
			bad("config", fmt.Sprintf("connections[%s]: name used twice", sp.Name))
		}
		names[sp.Name] = true
	}
	switch {
	case c.SessionStore == "" || c.SessionStore == "file" || c.SessionStore == "memory":
	case redisstore.IsURL(c.SessionStore):
		if _, err := redisstore.ParseURL(c.SessionStore, c.SessionStorePassword); err != nil {
			bad("session-store", err.Error())
		}
	default:
		// Not echoed: a mistyped URL may hold a password.
		bad("session-store", "want file, memory or a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://)")
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 168 * time.Hour
	}
	if c.RefreshSkew == 0 {
		c.RefreshSkew = time.Minute
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.RefreshTimeout == 0 {
		c.RefreshTimeout = 3 * time.Second
	}
	if c.ForcedRefreshInterval == 0 {
		c.ForcedRefreshInterval = 30 * time.Second
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics-addr", fmt.Sprintf("%q is not a host:port address", c.MetricsAddr))
		}
	}
	return errs.err()
}

func absURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
