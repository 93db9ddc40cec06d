package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Options is what "tokenhook serve" reads: the server's Config and the
// settings only the command uses (where to listen, how to log).
type Options struct {
	// Server is what server.New takes.
	Server Config
	// Addr is the listen address (default 127.0.0.1:4180).
	Addr string
	// ReusePort opens the listening socket with SO_REUSEPORT, so a new
	// process can listen on the same port before the old one drains (see
	// server.ListenFor).
	ReusePort bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
}

// Validate checks the options and fills defaults (Server.PublicURL from
// Addr), reporting every problem at once: its error is Errors.
func (o *Options) Validate() error {
	var errs Errors
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.Server.PublicURL == "" {
		if host, port, err := net.SplitHostPort(o.Addr); err == nil && (host == "" || port == "0" || isUnspecified(host)) {
			// The redirect URI and cookies need the URL viewers use.
			errs = append(errs, &Error{"public-url", fmt.Sprintf("required when --addr %q names no single host and port that viewers can use", o.Addr)})
		}
		o.Server.PublicURL = "http://" + o.Addr
	}
	var serverErrs Errors
	errors.As(o.Server.Validate(), &serverErrs)
	errs = append(errs, serverErrs...)
	if o.Server.MetricsAddr != "" && o.Server.MetricsAddr == o.Addr {
		errs = append(errs, &Error{"metrics-addr", "must differ from --addr: metrics are never served on the public listener"})
	}
	switch o.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, &Error{"log-level", fmt.Sprintf("%q is not debug, info, warn or error", o.LogLevel)})
	}
	switch o.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, &Error{"log-format", fmt.Sprintf("%q is not text or json", o.LogFormat)})
	}
	return errs.err()
}

// Load reads settings from args (flags), then getenv (TOKENHOOK_*), then the
// YAML file named by --config, in that order of precedence, and validates
// them. getenv is usually os.Getenv. Help output goes to out; flag.ErrHelp
// is returned for -h. Every problem is reported at once (Errors), except
// that a flag, file or value that cannot be read stops before validation.
func Load(args []string, getenv func(string) string, out io.Writer) (Options, error) {
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
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
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
			return Options{}, err
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
	o, err := optionsFromRaw(raw, conns)
	if err != nil {
		return o, err
	}
	o.Server.Rules = append(o.Server.Rules, rules...)
	return o, o.Validate()
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
		return nil, nil, nil, &Error{"config", fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, nil, &Error{"config", fmt.Sprintf("%s is not valid YAML: %v", path, firstLine(err.Error()))}
	}
	var lists struct {
		Connections []connection.Spec `yaml:"connections"`
		Rules       []fileRule        `yaml:"rules"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&lists); err != nil {
		return nil, nil, nil, &Error{"config", fmt.Sprintf("%s: %v", path, firstLine(err.Error()))}
	}
	delete(doc, "connections")
	delete(doc, "rules")
	var rules verify.Rules
	for _, r := range lists.Rules {
		if !strings.HasPrefix(r.Path, "/") {
			return nil, nil, nil, &Error{"config", fmt.Sprintf("%s: rules: path %q must start with /", path, r.Path)}
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
			return nil, nil, nil, &Error{"config", fmt.Sprintf("%s: unknown key %q", path, k)}
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

// optionsFromRaw converts the settings' text; it reports every value it
// cannot read.
func optionsFromRaw(raw map[string]string, conns []connection.Spec) (Options, error) {
	o := Options{Addr: raw["addr"], LogLevel: raw["log-level"], LogFormat: raw["log-format"]}
	c := &o.Server
	*c = Config{
		Connections: conns, AssertionAudience: raw["assertion-audience"],
		PublicURL: raw["public-url"], Issuer: raw["issuer"],
		AuthURL: raw["auth-url"], TokenURL: raw["token-url"], UserinfoURL: raw["userinfo-url"],
		ClientID: raw["client-id"], Upstream: raw["upstream"], DataDir: raw["data-dir"], Audience: raw["audience"],
		MetricsAddr: raw["metrics-addr"],
	}
	var errs Errors
	// keep records err, if any, among the problems found.
	keep := func(err error) {
		var e *Error
		if errors.As(err, &e) {
			errs = append(errs, e)
		}
	}
	var err error
	c.ClientSecret, err = secretValue(raw, "client-secret")
	keep(err)
	c.ExchangeSecret, err = secretValue(raw, "exchange-secret")
	keep(err)
	secret, err := secretValue(raw, "cookie-secret")
	keep(err)
	c.CookieSecret = []byte(secret)
	c.SessionStore = raw["session-store"]
	c.SessionStorePassword, err = secretValue(raw, "session-store-password")
	keep(err)
	if v := raw["session-cache-mb"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<20 {
			keep(&Error{"session-cache-mb", fmt.Sprintf("%q is not a whole number of MiB from 1 to 1048576", v)})
		}
		c.SessionCacheMB = n
	}
	if s := raw["scopes"]; s != "" {
		c.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if s := raw["api-paths"]; s != "" {
		c.APIPaths = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if c.TrustedProxies, err = ratelimit.ParseProxies(raw["trusted-proxies"]); err != nil {
		keep(&Error{"trusted-proxies", err.Error()})
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
			keep(&Error{"skip-auth-routes", fmt.Sprintf("%q: want \"METHOD /path\" or \"/path\"", r)})
			continue
		}
		c.SkipAuth = append(c.SkipAuth, rt)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"strip-authorization", &c.StripAuthorization}, {"inject-script", &c.InjectScript}, {"reuse-port", &o.ReusePort}} {
		*b.dst, err = boolValue(raw, b.name)
		keep(err)
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"shutdown-timeout", &c.ShutdownTimeout}, {"upstream-timeout", &c.UpstreamTimeout}, {"session-ttl", &c.SessionTTL},
		{"refresh-skew", &c.RefreshSkew}, {"refresh-timeout", &c.RefreshTimeout}, {"forced-refresh-interval", &c.ForcedRefreshInterval},
	} {
		*d.dst, err = durationValue(raw, d.name)
		keep(err)
	}
	return o, errs.err()
}

// isUnspecified reports whether host is 0.0.0.0 or :: (every address).
func isUnspecified(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
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
		return false, &Error{name, fmt.Sprintf("%q: %s", raw[name], boolWords)}
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
		return "", &Error{name, "set either the value or --" + name + "-file, not both"}
	}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", &Error{name + "-file", fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err))}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func durationValue(raw map[string]string, name string) (time.Duration, error) {
	d, err := time.ParseDuration(raw[name])
	if err != nil || d < 0 {
		return 0, &Error{name, fmt.Sprintf("%q is not a duration like 90s or 24h", raw[name])}
	}
	return d, nil
}
