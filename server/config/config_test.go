package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`
issuer: https://file.example
client-id: file-id
client-secret: file-secret
cookie-secret: file-secret-file-secret-file-secret-32
scopes: [openid, email]
session-ttl: 2h
addr: 127.0.0.1:9999
`), 0o600)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("from-secret-file\n"), 0o600)
	env := map[string]string{
		"TOKENHOOK_CONFIG":             file,
		"TOKENHOOK_CLIENT_ID":          "env-id",
		"TOKENHOOK_CLIENT_SECRET_FILE": secretFile,
		"TOKENHOOK_SESSION_TTL":        "3h",
	}
	_, err := Load([]string{"--session-ttl", "4h"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("client-secret from file and client-secret-file from env must conflict")
	}
	delete(env, "TOKENHOOK_CLIENT_SECRET_FILE")
	o, err := Load([]string{"--session-ttl", "4h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Server
	for _, tc := range []struct{ name, got, want string }{
		{"flag beats env", c.SessionTTL.String(), (4 * time.Hour).String()},
		{"env beats file", c.ClientID, "env-id"},
		{"file beats default", o.Addr, "127.0.0.1:9999"},
		{"file value", c.Issuer, "https://file.example"},
		{"default", o.LogLevel, "info"},
		{"public url from addr", c.PublicURL, "http://127.0.0.1:9999"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q want %q", tc.name, tc.got, tc.want)
		}
	}
	if !slices.Equal(c.Scopes, []string{"openid", "email"}) {
		t.Errorf("scopes from a YAML list: %v", c.Scopes)
	}
}

func TestSettingsTableListsEverySetting(t *testing.T) {
	table := SettingsTable()
	for _, s := range settings {
		if !strings.Contains(table, "`--"+s.name+"`") || !strings.Contains(table, envName(s.name)) {
			t.Errorf("table lacks %s", s.name)
		}
	}
}

// TestREADMESettingsTable keeps the README's settings table equal to the
// settings the server knows. UPDATE_README=1 rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the settings markers")
	}
	want := s[:i+len(begin)] + SettingsTable() + s[j:]
	if want == s {
		return
	}
	if os.Getenv("UPDATE_README") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's settings table is out of date: run UPDATE_README=1 go test ./server/config -run TestREADMESettingsTable")
}

func TestLoadConfigRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte(`
issuer: https://idp.example
client-id: c
client-secret: s
cookie-secret: 0123456789abcdef0123456789abcdef
rules:
  - path: /admin/
    groups: [admins]
  - path: /finance/
    email-domains: [example.com]
`), 0o600)
	o, err := Load([]string{"--config", file, "--allowed-emails", "a@example.com, b@example.com", "--skip-auth-routes", "GET /static/,/favicon.ico"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Server
	if len(c.Rules) != 3 || c.Rules[0].PathPrefix != "/" || len(c.Rules[0].Emails) != 2 || c.Rules[1].Groups[0] != "admins" || c.Rules[2].Domains[0] != "example.com" {
		t.Fatalf("rules: %+v", c.Rules)
	}
	if len(c.SkipAuth) != 2 || c.SkipAuth[0].Method != "GET" || c.SkipAuth[1].Path != "/favicon.ico" {
		t.Fatalf("skip routes: %+v", c.SkipAuth)
	}
	_, err = Load([]string{"--config", file, "--skip-auth-routes", "static"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--skip-auth-routes (TOKENHOOK_SKIP_AUTH_ROUTES)") {
		t.Fatalf("bad route: %v", err)
	}
}

// minimal returns the flags of a valid configuration, then args.
func minimal(args ...string) []string {
	return append([]string{"--issuer", "https://idp.example", "--client-id", "c", "--client-secret", "s",
		"--cookie-secret", strings.Repeat("x", 32)}, args...)
}

// TestPublicURLFromAddr: without --public-url the URL viewers use is
// derived from --addr, which must then name one host and port.
func TestPublicURLFromAddr(t *testing.T) {
	for _, tc := range []struct{ addr, want, err string }{
		{"", "http://127.0.0.1:4180", ""},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"localhost:8080", "http://localhost:8080", ""},
		{":8080", "", `--public-url (TOKENHOOK_PUBLIC_URL): required when --addr ":8080"`},
		{"0.0.0.0:8080", "", `required when --addr "0.0.0.0:8080"`},
		{"[::]:8080", "", `required when --addr "[::]:8080"`},
		{"127.0.0.1:0", "", `required when --addr "127.0.0.1:0"`},
	} {
		o, err := Load(minimal("--addr", tc.addr), func(string) string { return "" }, io.Discard)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("--addr %q: err %v, want %q", tc.addr, err, tc.err)
		case tc.err == "" && (err != nil || o.Server.PublicURL != tc.want):
			t.Errorf("--addr %q: %q (err %v), want %q", tc.addr, o.Server.PublicURL, err, tc.want)
		}
	}
	if o, err := Load(minimal("--addr", ":8080", "--public-url", "https://dash.example.com"), func(string) string { return "" }, io.Discard); err != nil || o.Server.PublicURL != "https://dash.example.com" {
		t.Errorf("--addr :8080 with --public-url: %q, %v", o.Server.PublicURL, err)
	}
}

// TestTrustedProxies: --trusted-proxies is read from a flag, the environment
// and a YAML list alike; a value that is no address names the setting.
func TestTrustedProxies(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("trusted-proxies: [10.0.0.0/8, 192.0.2.1]\n"), 0o600)
	for name, in := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag":      {args: []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1"}},
		"env":       {env: map[string]string{"TOKENHOOK_TRUSTED_PROXIES": "10.0.0.0/8 192.0.2.1"}},
		"yaml list": {args: []string{"--config", file}},
	} {
		o, err := Load(minimal(in.args...), func(k string) string { return in.env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := fmt.Sprint(o.Server.TrustedProxies); got != "[10.0.0.0/8 192.0.2.1/32]" {
			t.Errorf("%s: %s", name, got)
		}
	}
	if o, err := Load(minimal(), func(string) string { return "" }, io.Discard); err != nil || len(o.Server.TrustedProxies) != 0 {
		t.Errorf("unset: %v, %v", o.Server.TrustedProxies, err)
	}
	_, err := Load(minimal("--trusted-proxies", "lb.internal"), func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--trusted-proxies (TOKENHOOK_TRUSTED_PROXIES)") || !strings.Contains(err.Error(), "lb.internal") {
		t.Fatalf("bad proxy: %v", err)
	}
}

// boolSettings reads each boolean setting's value from Options. A boolean
// setting missing here fails TestBooleanSettings.
var boolSettings = map[string]func(Options) bool{
	"inject-script":       func(o Options) bool { return o.Server.InjectScript },
	"strip-authorization": func(o Options) bool { return o.Server.StripAuthorization },
	"reuse-port":          func(o Options) bool { return o.ReusePort },
}

// TestBooleanSettings: every boolean setting behaves like Go's boolean flags
// (bare means true, =false works, the next flag is never its value) and takes
// the same words from the flag, the environment and the YAML file.
func TestBooleanSettings(t *testing.T) {
	dir := t.TempDir()
	for _, s := range settings {
		if !s.boolean {
			continue
		}
		get, ok := boolSettings[s.name]
		if !ok {
			t.Errorf("boolean setting %s has no row in boolSettings", s.name)
			continue
		}
		if s.def != "false" {
			t.Errorf("boolean setting %s: default %q, want false (the bare flag turns it on)", s.name, s.def)
		}
		file := func(v string) string {
			p := filepath.Join(dir, s.name+"-"+strings.ReplaceAll(v, " ", "_")+".yaml")
			os.WriteFile(p, []byte(s.name+": "+v+"\n"), 0o600)
			return p
		}
		env := envName(s.name)
		for _, tc := range []struct {
			form string
			args []string
			env  map[string]string
			want bool
			err  string // a part of the error, when one is expected
		}{
			{form: "default", want: false},
			{form: "flag bare", args: []string{"--" + s.name}, want: true},
			{form: "flag bare, single dash", args: []string{"-" + s.name}, want: true},
			{form: "flag bare before another flag", args: []string{"--" + s.name, "--addr", "127.0.0.1:7777"}, want: true},
			{form: "flag =true", args: []string{"--" + s.name + "=true"}, want: true},
			{form: "flag =false", args: []string{"--" + s.name + "=false"}, want: false},
			{form: "flag =1", args: []string{"--" + s.name + "=1"}, want: true},
			{form: "flag =0", args: []string{"--" + s.name + "=0"}, want: false},
			{form: "flag =yes", args: []string{"--" + s.name + "=yes"}, want: true},
			{form: "flag =no", args: []string{"--" + s.name + "=no"}, want: false},
			{form: "flag =false beats env true", args: []string{"--" + s.name + "=false"}, env: map[string]string{env: "true"}, want: false},
			{form: "flag =maybe", args: []string{"--" + s.name + "=maybe"}, err: "want true or false"},
			{form: "flag with a separate value", args: []string{"--" + s.name, "false"}, err: `unexpected argument "false"`},
			{form: "env true", env: map[string]string{env: "true"}, want: true},
			{form: "env TRUE", env: map[string]string{env: "TRUE"}, want: true},
			{form: "env 1", env: map[string]string{env: "1"}, want: true},
			{form: "env yes", env: map[string]string{env: "yes"}, want: true},
			{form: "env on", env: map[string]string{env: "on"}, want: true},
			{form: "env false", env: map[string]string{env: "false"}, want: false},
			{form: "env 0", env: map[string]string{env: "0"}, want: false},
			{form: "env no", env: map[string]string{env: "no"}, want: false},
			{form: "env off", env: map[string]string{env: "off"}, want: false},
			{form: "env maybe", env: map[string]string{env: "maybe"}, err: "--" + s.name + " (" + env + `): "maybe": want true or false`},
			{form: "yaml true", args: []string{"--config", file("true")}, want: true},
			{form: "yaml false", args: []string{"--config", file("false")}, want: false},
			{form: "yaml yes", args: []string{"--config", file("yes")}, want: true},
			{form: "yaml no", args: []string{"--config", file("no")}, want: false},
			{form: "yaml 1", args: []string{"--config", file("1")}, want: true},
			{form: "yaml 0", args: []string{"--config", file("0")}, want: false},
			{form: "yaml quoted on", args: []string{"--config", file(`"on"`)}, want: true},
			{form: "yaml maybe", args: []string{"--config", file("maybe")}, err: "want true or false"},
			{form: "env false beats yaml true", args: []string{"--config", file("true")}, env: map[string]string{env: "false"}, want: false},
		} {
			t.Run(s.name+"/"+tc.form, func(t *testing.T) {
				o, err := Load(minimal(tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("error %v, want one containing %q", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := get(o); got != tc.want {
					t.Errorf("%s = %v, want %v", s.name, got, tc.want)
				}
				if slices.Contains(tc.args, "--addr") && o.Addr != "127.0.0.1:7777" {
					t.Errorf("the flag after --%s was not read: addr %q", s.name, o.Addr)
				}
			})
		}
	}
}

// TestValidateReportsEveryProblem: one run names every bad setting, on one
// line, and each problem stays reachable with errors.As.
func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Load([]string{"--issuer", "https://idp.example", "--public-url", "ftp://x", "--cookie-secret", "short",
		"--log-level", "loud", "--metrics-addr", "127.0.0.1:4180", "--api-paths", "api"}, func(string) string { return "" }, io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, name := range []string{"public-url", "client-id", "client-secret", "cookie-secret", "api-paths", "metrics-addr", "log-level"} {
		if !strings.Contains(msg, "--"+name+" ("+envName(name)+")") {
			t.Errorf("the error does not name --%s: %s", name, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("not one line: %q", msg)
	}
	var e *Error
	if !errors.As(err, &e) || e.Name != "public-url" {
		t.Errorf("errors.As: %v %+v, want the first problem, public-url", err, e)
	}
	var all Errors
	if !errors.As(err, &all) || len(all) != 7 {
		t.Errorf("errors.As Errors: %d problems, want 7: %v", len(all), err)
	}
}
