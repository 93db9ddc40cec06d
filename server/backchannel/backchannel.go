// Package backchannel receives OpenID Connect Back-Channel Logout 1.0: the
// identity provider POSTs a signed logout token naming a provider session
// (sid) or a subject (sub), and the sessions it names end.
//
// A Validator checks the token (signature with the issuer's keys, iss, aud,
// iat, exp when present, the logout event, no nonce, jti not seen before)
// and Handler serves the endpoint.
package backchannel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/server/once"
)

// Event is the member of a logout token's events claim that makes it one.
const Event = "http://schemas.openid.net/event/backchannel-logout"

// maxTokenSize bounds the logout tokens Validate parses.
const maxTokenSize = 16 << 10

// leeway absorbs clock differences with the provider.
const leeway = time.Minute

// signingAlgs are the asymmetric algorithms a logout token may use; "none"
// and HMAC (which a client secret or a public key could forge) are refused.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Config configures a Validator.
type Config struct {
	// Issuer is the exact iss of the provider's tokens.
	Issuer string
	// ClientID must be one of the token's audiences.
	ClientID string
	// KeySet verifies signatures with the issuer's keys: the provider's
	// oidc.NewRemoteKeySet(ctx, jwksURI), or an oidc.StaticKeySet.
	KeySet oidc.KeySet
	// Replay refuses a token id seen before: once.Memory for one process,
	// redisstore.Once shared by every replica.
	Replay once.Store
	// MaxAge is how old (by iat) a token may be (default 10 minutes). The
	// replay cache keeps ids for as long.
	MaxAge time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Validator checks logout tokens. Create it with New; it is safe for
// concurrent use.
type Validator struct {
	cfg Config
}

// New returns a Validator, or an error naming what Config lacks.
func New(cfg Config) (*Validator, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("backchannel: Issuer is required")
	case cfg.ClientID == "":
		return nil, errors.New("backchannel: ClientID is required")
	case cfg.KeySet == nil:
		return nil, errors.New("backchannel: KeySet is required")
	case cfg.Replay == nil:
		return nil, errors.New("backchannel: Replay is required")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Validator{cfg: cfg}, nil
}

// Logout is what a valid logout token names: a provider session, a subject,
// or both (then the sessions of that subject in that provider session).
type Logout struct {
	SID     string
	Subject string
}

// InvalidError is a logout token that is not valid; its message says why
// without quoting the token.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return "invalid logout token: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// claims of a logout token; absent and JSON null are told apart by
// json.RawMessage where the spec forbids the claim or needs its type.
type claims struct {
	Issuer   string                     `json:"iss"`
	Audience json.RawMessage            `json:"aud"`
	IssuedAt *json.Number               `json:"iat"`
	Expiry   *json.Number               `json:"exp"`
	JTI      string                     `json:"jti"`
	Events   map[string]json.RawMessage `json:"events"`
	SID      string                     `json:"sid"`
	Subject  string                     `json:"sub"`
	Nonce    json.RawMessage            `json:"nonce"`
}

// Validate checks raw and records its jti, so the same token is refused the
// next time, on every replica sharing the replay cache. Errors are
// *InvalidError for a bad token; other errors (the key set or the replay
// cache failed) are the server's.
func (v *Validator) Validate(ctx context.Context, raw string) (Logout, error) {
	if raw == "" {
		return Logout{}, invalid("missing")
	}
	if len(raw) > maxTokenSize {
		return Logout{}, invalid("larger than %d bytes", maxTokenSize)
	}
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return Logout{}, invalid("not a JWS with an asymmetric algorithm")
	}
	if len(jws.Signatures) != 1 {
		return Logout{}, invalid("want exactly one signature")
	}
	switch typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); typ {
	case "", "JWT", "logout+jwt", "application/logout+jwt":
	default:
		return Logout{}, invalid("typ %q is not logout+jwt", clip(typ))
	}
	payload, err := v.cfg.KeySet.VerifySignature(ctx, raw)
	if err != nil {
		if ctx.Err() != nil {
			return Logout{}, fmt.Errorf("backchannel: verify signature: %w", err)
		}
		return Logout{}, invalid("signature not made by the issuer's keys")
	}
	var c claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return Logout{}, invalid("claims are not a JSON object of the expected types")
	}
	if c.Issuer != v.cfg.Issuer {
		return Logout{}, invalid("iss is not the configured issuer")
	}
	if !hasAudience(c.Audience, v.cfg.ClientID) {
		return Logout{}, invalid("aud does not contain the client id")
	}
	now := v.cfg.Now()
	iat, ok := unixTime(c.IssuedAt)
	if !ok {
		return Logout{}, invalid("iat is missing or not a number")
	}
	if iat.After(now.Add(leeway)) {
		return Logout{}, invalid("iat is in the future")
	}
	if iat.Before(now.Add(-v.cfg.MaxAge)) {
		return Logout{}, invalid("issued more than %v ago", v.cfg.MaxAge)
	}
	if c.Expiry != nil {
		exp, ok := unixTime(c.Expiry)
		if !ok {
			return Logout{}, invalid("exp is not a number")
		}
		if !now.Before(exp.Add(leeway)) {
			return Logout{}, invalid("expired")
		}
	}
	ev, ok := c.Events[Event]
	if !ok || len(ev) == 0 || ev[0] != '{' {
		return Logout{}, invalid("events lacks the back-channel logout event object")
	}
	if c.Nonce != nil {
		return Logout{}, invalid("a nonce is present (an ID token is not a logout token)")
	}
	if c.SID == "" && c.Subject == "" {
		return Logout{}, invalid("neither sid nor sub is present")
	}
	if c.JTI == "" {
		return Logout{}, invalid("jti is missing")
	}
	first, err := v.cfg.Replay.UseOnce(ctx, "logout-jti\x00"+c.Issuer+"\x00"+c.JTI, v.cfg.MaxAge+2*leeway)
	if err != nil {
		return Logout{}, fmt.Errorf("backchannel: replay cache: %w", err)
	}
	if !first {
		return Logout{}, invalid("already used (jti seen before)")
	}
	return Logout{SID: c.SID, Subject: c.Subject}, nil
}

// hasAudience reports whether aud (a string or an array of strings)
// contains id.
func hasAudience(aud json.RawMessage, id string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == id
	}
	var many []string
	if json.Unmarshal(aud, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == id {
			return true
		}
	}
	return false
}

// unixTime converts a NumericDate (seconds, maybe fractional).
func unixTime(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// clip bounds untrusted text quoted in errors.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
