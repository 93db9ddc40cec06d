package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// introspect asks the provider's RFC 7662 endpoint about token.
func (v *Verifier) introspect(ctx context.Context, endpoint, token string, now time.Time) (*Claims, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: build introspection request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if v.cfg.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection answered status %d", ErrUnavailable, resp.StatusCode)
	}
	raw := map[string]any{}
	if err := decodeLimited(resp, &raw); err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	if active, _ := raw["active"].(bool); !active {
		return nil, fmt.Errorf("%w: token is not active", ErrInvalidToken)
	}
	// Some providers nest the user's claims (Dex: "ext"); lift them when the
	// top level lacks them.
	if ext, ok := raw["ext"].(map[string]any); ok {
		for k, x := range ext {
			if _, exists := raw[k]; !exists {
				raw[k] = x
			}
		}
	}
	c, err := ClaimsFromMap(raw, v.cfg.GroupsClaim)
	if err != nil {
		return nil, err
	}
	if c.PreferredUsername == "" {
		c.PreferredUsername, _ = raw["username"].(string)
	}
	if c.Issuer != "" && c.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	if c.Issuer == "" {
		c.Issuer = v.cfg.Issuer
	}
	if err := v.checkAudience(c.Audience, false); err != nil {
		return nil, err
	}
	if err := v.checkTimes(raw, c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// userinfo validates token by calling the userinfo endpoint with it: a 200
// answer means the provider accepts the token; the answer becomes the claims.
func (v *Verifier) userinfo(ctx context.Context, endpoint, token string) (*Claims, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: build userinfo request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: userinfo: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: userinfo refused the token (status %d)", ErrInvalidToken, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: userinfo answered status %d", ErrUnavailable, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("%w: userinfo answered %q, want JSON", ErrUnavailable, ct)
	}
	raw := map[string]any{}
	if err := decodeLimited(resp, &raw); err != nil {
		return nil, fmt.Errorf("%w: userinfo: %w", ErrUnavailable, err)
	}
	c, err := ClaimsFromMap(raw, v.cfg.GroupsClaim)
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		// GitHub-style APIs answer "id" and "login" instead of OIDC claims.
		switch id := raw["id"].(type) {
		case float64:
			c.Subject = json.Number(fmt.Sprintf("%.0f", id)).String()
		case string:
			c.Subject = id
		}
		if c.PreferredUsername == "" {
			c.PreferredUsername, _ = raw["login"].(string)
		}
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: userinfo answer has no subject", ErrInvalidToken)
	}
	if c.Issuer == "" {
		c.Issuer = v.cfg.Issuer
	}
	return c, nil
}
