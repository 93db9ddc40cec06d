package server

import (
	"io"
	"strings"
	"testing"
)

// TestBrowserTokenSetting: --browser-token (TOKENHOOK_BROWSER_TOKEN) is
// bearer by default, takes dpop and none, and refuses anything else with an error
// naming the setting.
func TestBrowserTokenSetting(t *testing.T) {
	base := []string{"--issuer", "https://idp.example", "--client-id", "c", "--client-secret", "s", "--cookie-secret", strings.Repeat("x", 32)}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string // the mode, or a part of the error
	}{
		{"default", nil, "", "bearer"},
		{"flag none", []string{"--browser-token", "none"}, "", "none"},
		{"env none", nil, "none", "none"},
		{"flag dpop", []string{"--browser-token", "dpop"}, "", "dpop"},
		{"flag beats env", []string{"--browser-token", "bearer"}, "none", "bearer"},
		{"unknown", []string{"--browser-token", "cookie"}, "", `--browser-token (TOKENHOOK_BROWSER_TOKEN): "cookie": want bearer, dpop or none`},
		{"case matters", nil, "None", "want bearer, dpop or none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(append(append([]string(nil), base...), tc.args...), func(k string) string {
				if k == "TOKENHOOK_BROWSER_TOKEN" {
					return tc.env
				}
				return ""
			}, io.Discard)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if c.BrowserToken != tc.want {
				t.Errorf("BrowserToken = %q, want %q", c.BrowserToken, tc.want)
			}
		})
	}
}
