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
