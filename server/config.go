package server

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Config is everything tokenhook serve needs. Build it with LoadConfig (flags,
// environment, file) or fill it in code.
type Config struct {
	// Addr is the listen address.
	Addr string
	// PublicURL is the external base URL browsers use (scheme://host[:port]).
	// https turns on Secure cookies with the __Host- prefix.
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

	// ReusePort opens the listening socket with SO_REUSEPORT, so a new
	// process can listen on the same port before the old one drains (see
	// Listen).
	ReusePort bool
	// ShutdownTimeout is how long Serve waits for in-flight requests after
	// its context ends (default 10 s); connections still open then are closed.
	ShutdownTimeout time.Duration

	// MetricsAddr is the listen address of the Prometheus metrics
	// (GET /metrics); empty turns metrics off.
	MetricsAddr string

	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
}

// The values of Config.BrowserToken.
const (
	BrowserTokenBearer = "bearer"
	BrowserTokenNone   = "none"
	BrowserTokenDPoP   = "dpop"
)

// setting is one configuration knob: a flag, an environment variable and a key
// in the config file.
type setting struct {
	name, def, usage string
	secret           bool // never echo its value in errors
	boolean          bool // a switch: bare --name means true (see parseBool)
}

// settings is the single table behind the flags, the environment variables,
// the config file keys, --help and the README table.
var settings = []setting{
	{name: "config", usage: "YAML file with settings (keys are the flag names)"},
	{name: "addr", def: "127.0.0.1:4180", usage: "listen address"},
	{name: "public-url", usage: "external base URL (default http://ADDR); https enables Secure __Host- cookies"},
	{name: "issuer", usage: "OpenID Connect issuer URL (discovery); or use --auth-url and --token-url"},
	{name: "auth-url", usage: "OAuth 2.0 authorization endpoint (plain OAuth 2.0 providers)"},
	{name: "token-url", usage: "OAuth 2.0 token endpoint (plain OAuth 2.0 providers)"},
	{name: "userinfo-url", usage: "userinfo endpoint for plain OAuth 2.0 providers (optional)"},
	{name: "client-id", usage: "OAuth client id (required)"},
	{name: "client-secret", usage: "OAuth client secret", secret: true},
	{name: "client-secret-file", usage: "file holding the client secret"},
	{name: "scopes", usage: "space- or comma-separated scopes (default: openid email profile offline_access with --issuer)"},
	{name: "upstream", usage: "URL of the dashboard app to forward to"},
	{name: "upstream-timeout", def: "60s", usage: "how long to wait for the upstream's response headers"},
	{name: "audience", usage: "aud that forwarded bearer tokens must carry (default: the client id)"},
	{name: "api-paths", usage: "comma-separated path prefixes where every request needs a bearer token (other GETs pass with a session)"},
	{name: "inject-script", def: "false", boolean: true, usage: "insert the tokenhook script tag into proxied HTML pages"},
	{name: "strip-authorization", def: "false", boolean: true, usage: "remove the Authorization header before forwarding (default: pass it through)"},
	{name: "browser-token", def: "bearer", usage: "what the page holds: bearer (the provider's access token), dpop (a token tokenhook mints, at most 5 minutes, bound to a non-extractable key of the page; every request carries a DPoP proof) or none (no token; tokenhook adds the session's token to the requests its script marks with X-TokenHook: 1)"},
	{name: "allowed-emails", usage: "comma-separated emails allowed in (default: every signed-in viewer)"},
	{name: "allowed-email-domains", usage: "comma-separated email domains allowed in"},
	{name: "allowed-groups", usage: "comma-separated groups allowed in"},
	{name: "groups-claim", def: "groups", usage: "token claim that holds the viewer's groups (a list, or one group as a string)"},
	{name: "introspect", def: "auto", usage: "which bearer tokens to look up at the provider: auto (opaque ones), always (JWTs too), never"},
	{name: "skip-auth-routes", usage: "comma-separated routes forwarded without any check, like \"GET /static/,/favicon.ico\""},
	{name: "cookie-secret", usage: "secret of at least 32 bytes for cookies and session encryption", secret: true},
	{name: "cookie-secret-file", usage: "file holding the cookie secret"},
	{name: "exchange-secret", usage: "secret the upstream presents (HTTP Basic) at /_tokenhook/exchange; empty = loopback callers only", secret: true},
	{name: "exchange-secret-file", usage: "file holding the exchange secret"},
	{name: "assertion-audience", usage: "aud of the X-TokenHook-Session assertion sent upstream (default: the upstream URL)"},
	{name: "data-dir", def: "tokenhook-data", usage: "directory for encrypted sessions (\"\" = memory only)"},
	{name: "session-store", def: "file", usage: "where sessions live: file (in --data-dir), memory, or Redis shared by several replicas: redis://[user:password@]host:port/db, rediss://… (TLS), redis+sentinel://host:port,host:port/master/db, redis+cluster://host:port,host:port", secret: true},
	{name: "session-store-password-file", usage: "file holding the Redis password (replaces the one in --session-store)"},
	{name: "session-cache-mb", def: "64", usage: "MiB of decrypted sessions the file store keeps in memory; the least recently used are read from disk again"},
	{name: "session-ttl", def: "168h", usage: "maximum session lifetime"},
	{name: "refresh-skew", def: "60s", usage: "refresh access tokens this long before they expire"},
	{name: "reuse-port", def: "false", boolean: true, usage: "listen with SO_REUSEPORT so a new process can start on the same port before the old one stops (zero-downtime restarts)"},
	{name: "shutdown-timeout", def: "10s", usage: "on SIGTERM, how long in-flight requests may take to finish before their connections are closed"},
	{name: "refresh-timeout", def: "3s", usage: "how long a token request waits for a refresh at the provider, and the deadline of discovery and code exchange (a viewer whose token is still valid gets it at once)"},
	{name: "forced-refresh-interval", def: "30s", usage: "least time between two refreshes forced by a backend refusing the token, per session and client"},
	{name: "metrics-addr", usage: "listen address of the Prometheus metrics (GET /metrics), apart from --addr, like 127.0.0.1:9180; empty = no metrics"},
	{name: "log-level", def: "info", usage: "debug, info, warn or error"},
	{name: "log-format", def: "text", usage: "text or json"},
}

// envName is the environment variable of a setting.
func envName(name string) string {
	return "TOKENHOOK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ConfigError is a bad or missing setting. Its message is one line naming the
// flag and the environment variable.
type ConfigError struct {
	Name   string // flag name without dashes
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("--%s (%s): %s", e.Name, envName(e.Name), e.Reason)
}

// LoadConfig reads settings from args (flags), then getenv (TOKENHOOK_*), then
// the YAML file named by --config, in that order of precedence. getenv is
// usually os.Getenv. Help output goes to out; flag.ErrHelp is returned for -h.
func LoadConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("tokenhook serve", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		if s.boolean {
			v := &boolFlag{s: s.def}
			fs.Var(v, s.name, s.usage)
			vals[s.name] = &v.s
			continue
		}
		vals[s.name] = fs.String(s.name, s.def, s.usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: tokenhook serve [flags]\n\nEvery flag can also be set by its environment variable or a key in the --config file.\nPrecedence: flag > environment > file > default.\nSwitches (default false) take true/false, 1/0, yes/no or on/off; the bare flag means true.\n\n")
		fmt.Fprint(out, SettingsTable())
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	raw := map[string]string{}
	for _, s := range settings {
		if set[s.name] {
			raw[s.name] = *vals[s.name]
		} else if v := getenv(envName(s.name)); v != "" {
			raw[s.name] = v
		}
	}
	var conns []connection.Spec
	var rules verify.Rules
	if path := raw["config"]; path != "" {
		file, cs, rs, err := readConfigFile(path)
		if err != nil {
			return Config{}, err
		}
		conns, rules = cs, rs
		for k, v := range file {
			if _, ok := raw[k]; !ok {
				raw[k] = v
			}
		}
	}
	for _, s := range settings {
		if _, ok := raw[s.name]; !ok && s.def != "" {
			raw[s.name] = s.def
		}
	}
	c, err := configFromRaw(raw, conns)
	if err != nil {
		return c, err
	}
	c.Rules = append(c.Rules, rules...)
	return c, c.Validate()
}

// fileRule is a per-path authorization rule in the config file.
type fileRule struct {
	Path    string   `yaml:"path"`
	Emails  []string `yaml:"emails"`
	Domains []string `yaml:"email-domains"`
	Groups  []string `yaml:"groups"`
}

// readConfigFile reads the YAML file: settings by flag name, plus the
// "connections" and "rules" lists.
func readConfigFile(path string) (map[string]string, []connection.Spec, verify.Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, &ConfigError{"config", fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, nil, &ConfigError{"config", fmt.Sprintf("%s is not valid YAML: %v", path, firstLine(err.Error()))}
	}
	var lists struct {
		Connections []connection.Spec `yaml:"connections"`
		Rules       []fileRule        `yaml:"rules"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&lists); err != nil {
		return nil, nil, nil, &ConfigError{"config", fmt.Sprintf("%s: %v", path, firstLine(err.Error()))}
	}
	delete(doc, "connections")
	delete(doc, "rules")
	var rules verify.Rules
	for _, r := range lists.Rules {
		if !strings.HasPrefix(r.Path, "/") {
			return nil, nil, nil, &ConfigError{"config", fmt.Sprintf("%s: rules: path %q must start with /", path, r.Path)}
		}
		rules = append(rules, verify.Rule{PathPrefix: r.Path, Emails: r.Emails, Domains: r.Domains, Groups: r.Groups})
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.name] = true
	}
	out := make(map[string]string, len(doc))
	for k, v := range doc {
		if !known[k] || k == "config" {
			return nil, nil, nil, &ConfigError{"config", fmt.Sprintf("%s: unknown key %q", path, k)}
		}
		switch t := v.(type) {
		case []any:
			parts := make([]string, len(t))
			for i, p := range t {
				parts[i] = fmt.Sprint(p)
			}
			out[k] = strings.Join(parts, " ")
		case nil:
		default:
			out[k] = fmt.Sprint(t)
		}
	}
	return out, lists.Connections, rules, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func configFromRaw(raw map[string]string, conns []connection.Spec) (Config, error) {
	c := Config{
		Connections: conns, AssertionAudience: raw["assertion-audience"],
		Addr: raw["addr"], PublicURL: raw["public-url"], Issuer: raw["issuer"],
		AuthURL: raw["auth-url"], TokenURL: raw["token-url"], UserinfoURL: raw["userinfo-url"],
		ClientID: raw["client-id"], Upstream: raw["upstream"], DataDir: raw["data-dir"], Audience: raw["audience"],
		LogLevel: raw["log-level"], LogFormat: raw["log-format"], MetricsAddr: raw["metrics-addr"],
	}
	var err error
	if c.ClientSecret, err = secretValue(raw, "client-secret"); err != nil {
		return c, err
	}
	if c.ExchangeSecret, err = secretValue(raw, "exchange-secret"); err != nil {
		return c, err
	}
	secret, err := secretValue(raw, "cookie-secret")
	if err != nil {
		return c, err
	}
	c.CookieSecret = []byte(secret)
	c.SessionStore = raw["session-store"]
	if c.SessionStorePassword, err = secretValue(raw, "session-store-password"); err != nil {
		return c, err
	}
	if v := raw["session-cache-mb"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<20 {
			return c, &ConfigError{"session-cache-mb", fmt.Sprintf("%q is not a whole number of MiB from 1 to 1048576", v)}
		}
		c.SessionCacheMB = n
	}
	if s := raw["scopes"]; s != "" {
		c.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if s := raw["api-paths"]; s != "" {
		c.APIPaths = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	c.GroupsClaim = raw["groups-claim"]
	c.Introspect = raw["introspect"]
	c.BrowserToken = raw["browser-token"]
	global := verify.Rule{PathPrefix: "/", Emails: list(raw["allowed-emails"]), Domains: list(raw["allowed-email-domains"]), Groups: list(raw["allowed-groups"])}
	if len(global.Emails)+len(global.Domains)+len(global.Groups) > 0 {
		c.Rules = append(c.Rules, global)
	}
	for _, r := range strings.Split(raw["skip-auth-routes"], ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		rt, err := verify.ParseRoute(r)
		if err != nil {
			return c, &ConfigError{"skip-auth-routes", fmt.Sprintf("%q: want \"METHOD /path\" or \"/path\"", r)}
		}
		c.SkipAuth = append(c.SkipAuth, rt)
	}
	if c.StripAuthorization, err = boolValue(raw, "strip-authorization"); err != nil {
		return c, err
	}
	if c.InjectScript, err = boolValue(raw, "inject-script"); err != nil {
		return c, err
	}
	if c.ReusePort, err = boolValue(raw, "reuse-port"); err != nil {
		return c, err
	}
	if c.ShutdownTimeout, err = durationValue(raw, "shutdown-timeout"); err != nil {
		return c, err
	}
	if c.UpstreamTimeout, err = durationValue(raw, "upstream-timeout"); err != nil {
		return c, err
	}
	if c.SessionTTL, err = durationValue(raw, "session-ttl"); err != nil {
		return c, err
	}
	if c.RefreshSkew, err = durationValue(raw, "refresh-skew"); err != nil {
		return c, err
	}
	if c.RefreshTimeout, err = durationValue(raw, "refresh-timeout"); err != nil {
		return c, err
	}
	if c.ForcedRefreshInterval, err = durationValue(raw, "forced-refresh-interval"); err != nil {
		return c, err
	}
	return c, nil
}

// boolFlag is a boolean setting on the command line: like Go's own boolean
// flags, the bare form --name means true and --name=false works; the next
// argument is never taken as its value. It keeps the text, checked by
// parseBool, so flags, environment and file go through one conversion.
type boolFlag struct{ s string }

func (b *boolFlag) String() string {
	if b == nil {
		return ""
	}
	return b.s
}

func (b *boolFlag) Set(v string) error {
	if _, ok := parseBool(v); !ok {
		return errors.New(boolWords)
	}
	b.s = v
	return nil
}

// IsBoolFlag tells package flag that the bare form means "true".
func (b *boolFlag) IsBoolFlag() bool { return true }

// boolWords lists the accepted spellings, for error messages.
const boolWords = "want true or false (also 1/0, yes/no, on/off)"

// parseBool reads a boolean setting: true/false, 1/0, yes/no, on/off, in
// any letter case, the same in flags, environment variables and the file.
func parseBool(v string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

func boolValue(raw map[string]string, name string) (bool, error) {
	if raw[name] == "" {
		return false, nil
	}
	v, ok := parseBool(raw[name])
	if !ok {
		return false, &ConfigError{name, fmt.Sprintf("%q: %s", raw[name], boolWords)}
	}
	return v, nil
}

// list splits a comma-separated setting.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func secretValue(raw map[string]string, name string) (string, error) {
	v, file := raw[name], raw[name+"-file"]
	if v != "" && file != "" {
		return "", &ConfigError{name, "set either the value or --" + name + "-file, not both"}
	}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", &ConfigError{name + "-file", fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err))}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func durationValue(raw map[string]string, name string) (time.Duration, error) {
	d, err := time.ParseDuration(raw[name])
	if err != nil || d < 0 {
		return 0, &ConfigError{name, fmt.Sprintf("%q is not a duration like 90s or 24h", raw[name])}
	}
	return d, nil
}

// Validate checks the configuration and fills defaults (PublicURL from Addr,
// OIDC scopes). Its errors are *ConfigError.
func (c *Config) Validate() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:4180"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return &ConfigError{"public-url", fmt.Sprintf("%q must be an http(s) origin like https://dash.example.com (no path)", c.PublicURL)}
	}
	c.PublicURL = u.Scheme + "://" + u.Host
	switch {
	case c.Issuer != "":
		if err := absURL(c.Issuer); err != nil {
			return &ConfigError{"issuer", err.Error()}
		}
		if c.AuthURL != "" || c.TokenURL != "" {
			return &ConfigError{"issuer", "set --issuer or --auth-url/--token-url, not both"}
		}
		if len(c.Scopes) == 0 {
			c.Scopes = []string{"openid", "email", "profile", "offline_access"}
		}
	case c.AuthURL != "" || c.TokenURL != "":
		if err := absURL(c.AuthURL); err != nil {
			return &ConfigError{"auth-url", err.Error()}
		}
		if err := absURL(c.TokenURL); err != nil {
			return &ConfigError{"token-url", err.Error()}
		}
	default:
		return &ConfigError{"issuer", "required: the OpenID Connect issuer (or --auth-url and --token-url)"}
	}
	if c.UserinfoURL != "" {
		if err := absURL(c.UserinfoURL); err != nil {
			return &ConfigError{"userinfo-url", err.Error()}
		}
	}
	if c.ClientID == "" {
		return &ConfigError{"client-id", "required"}
	}
	if c.ClientSecret == "" {
		return &ConfigError{"client-secret", "required (or --client-secret-file)"}
	}
	if len(c.CookieSecret) < 32 {
		return &ConfigError{"cookie-secret", fmt.Sprintf("must be at least 32 bytes, got %d (generate one: openssl rand -base64 32)", len(c.CookieSecret))}
	}
	if c.Upstream != "" {
		if err := absURL(c.Upstream); err != nil {
			return &ConfigError{"upstream", err.Error()}
		}
		if c.Issuer == "" && c.UserinfoURL == "" {
			return &ConfigError{"userinfo-url", "required with --upstream for plain OAuth 2.0 providers: it validates the bearer tokens"}
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
	mode, err := verify.ParseIntrospectMode(c.Introspect)
	if err != nil {
		return &ConfigError{"introspect", fmt.Sprintf("%q: want auto, always or never", c.Introspect)}
	}
	c.Introspect = string(mode)
	switch c.BrowserToken {
	case "":
		c.BrowserToken = BrowserTokenBearer
	case BrowserTokenBearer, BrowserTokenDPoP, BrowserTokenNone:
	default:
		return &ConfigError{"browser-token", fmt.Sprintf("%q: want bearer, dpop or none", c.BrowserToken)}
	}
	for _, r := range c.Rules {
		if !strings.HasPrefix(r.PathPrefix, "/") {
			return &ConfigError{"config", fmt.Sprintf("rules: path %q must start with /", r.PathPrefix)}
		}
	}
	for _, p := range c.APIPaths {
		if !strings.HasPrefix(p, "/") {
			return &ConfigError{"api-paths", fmt.Sprintf("%q must start with /", p)}
		}
	}
	names := map[string]bool{}
	for _, sp := range c.Connections {
		if _, err := connection.Resolve(sp); err != nil {
			return &ConfigError{"config", err.Error()}
		}
		if names[sp.Name] {
			return &ConfigError{"config", fmt.Sprintf("connections[%s]: name used twice", sp.Name)}
		}
		names[sp.Name] = true
	}
	switch {
	case c.SessionStore == "" || c.SessionStore == "file" || c.SessionStore == "memory":
	case redisstore.IsURL(c.SessionStore):
		if _, err := redisstore.ParseURL(c.SessionStore, c.SessionStorePassword); err != nil {
			return &ConfigError{"session-store", err.Error()}
		}
	default:
		// Not echoed: a mistyped URL may hold a password.
		return &ConfigError{"session-store", "want file, memory or a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://)"}
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
			return &ConfigError{"metrics-addr", fmt.Sprintf("%q is not a host:port address", c.MetricsAddr)}
		}
		if c.MetricsAddr == c.Addr {
			return &ConfigError{"metrics-addr", "must differ from --addr: metrics are never served on the public listener"}
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return &ConfigError{"log-level", fmt.Sprintf("%q is not debug, info, warn or error", c.LogLevel)}
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return &ConfigError{"log-format", fmt.Sprintf("%q is not text or json", c.LogFormat)}
	}
	return nil
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

// SettingsTable returns the settings as a Markdown table (flag, environment
// variable, default, meaning); the README's table is this output.
func SettingsTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	rows := append([]setting(nil), settings...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].name == "config" && rows[j].name != "config" })
	for _, s := range rows {
		def := s.def
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", s.name, envName(s.name), def, strings.ReplaceAll(s.usage, "|", "\\|"))
	}
	return b.String()
}
