package server

import (
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
	_, err := LoadConfig([]string{"--session-ttl", "4h"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("client-secret from file and client-secret-file from env must conflict")
	}
	delete(env, "TOKENHOOK_CLIENT_SECRET_FILE")
	c, err := LoadConfig([]string{"--session-ttl", "4h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"flag beats env", c.SessionTTL.String(), (4 * time.Hour).String()},
		{"env beats file", c.ClientID, "env-id"},
		{"file beats default", c.Addr, "127.0.0.1:9999"},
		{"file value", c.Issuer, "https://file.example"},
		{"default", c.LogLevel, "info"},
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
	path := filepath.Join("..", "README.md")
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
	t.Fatal("README.md's settings table is out of date: run UPDATE_README=1 go test ./server -run TestREADMESettingsTable")
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
	c, err := LoadConfig([]string{"--config", file, "--allowed-emails", "a@example.com, b@example.com", "--skip-auth-routes", "GET /static/,/favicon.ico"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 3 || c.Rules[0].PathPrefix != "/" || len(c.Rules[0].Emails) != 2 || c.Rules[1].Groups[0] != "admins" || c.Rules[2].Domains[0] != "example.com" {
		t.Fatalf("rules: %+v", c.Rules)
	}
	if len(c.SkipAuth) != 2 || c.SkipAuth[0].Method != "GET" || c.SkipAuth[1].Path != "/favicon.ico" {
		t.Fatalf("skip routes: %+v", c.SkipAuth)
	}
	_, err = LoadConfig([]string{"--config", file, "--skip-auth-routes", "static"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--skip-auth-routes (TOKENHOOK_SKIP_AUTH_ROUTES)") {
		t.Fatalf("bad route: %v", err)
	}
}
