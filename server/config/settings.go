package config

import (
	"fmt"
	"sort"
	"strings"
)

// defaultAddr is the listen address when --addr is not set.
const defaultAddr = "127.0.0.1:4180"

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
	{name: "addr", def: defaultAddr, usage: "listen address"},
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
	{name: "trusted-proxies", usage: "comma-separated addresses or networks (CIDR) of the load balancers in front of tokenhook; from them X-Forwarded-For names the client, so per-client limits count viewers, not the balancer"},
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

// Error is a bad or missing setting. Its message is one line naming the
// flag and the environment variable.
type Error struct {
	Name   string // flag name without dashes
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("--%s (%s): %s", e.Name, envName(e.Name), e.Reason)
}

// Errors is every problem Load or Validate found, always in the same order;
// errors.As finds each *Error in it. Its message is one line.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, or nil when it is empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
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
