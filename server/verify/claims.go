package verify

import (
	"fmt"
	"strings"
)

// ClaimsFromMap maps a decoded claim set (a JWT payload, an introspection or
// userinfo answer, a session's ID token claims) to Claims. Every path that
// turns claims into an identity uses it, so a claim means the same thing
// wherever it came from. groupsClaim names the claim holding the groups
// (DefaultGroupsClaim when empty): a JSON list gives one group per string
// element, and a single string is one group (never split on spaces or
// commas: "Domain Admins" is one group, not "Admins"). raw becomes
// Claims.Raw and is not copied. The only error is an "aud" that is neither a
// string nor a list of strings (wrapping ErrInvalidToken).
func ClaimsFromMap(raw map[string]any, groupsClaim string) (*Claims, error) {
	if groupsClaim == "" {
		groupsClaim = DefaultGroupsClaim
	}
	c := &Claims{Raw: raw}
	c.Subject, _ = raw["sub"].(string)
	c.Issuer, _ = raw["iss"].(string)
	c.Email, _ = raw["email"].(string)
	c.PreferredUsername, _ = raw["preferred_username"].(string)
	c.Name, _ = raw["name"].(string)
	switch ev := raw["email_verified"].(type) {
	case bool:
		c.EmailVerified = ev
	case string: // some providers send "true"
		c.EmailVerified = ev == "true"
	}
	switch a := raw["aud"].(type) {
	case string:
		c.Audience = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: aud is not a list of strings", ErrInvalidToken)
			}
			c.Audience = append(c.Audience, s)
		}
	case nil:
	default:
		return nil, fmt.Errorf("%w: aud has the wrong type", ErrInvalidToken)
	}
	switch g := raw[groupsClaim].(type) {
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok && s != "" {
				c.Groups = append(c.Groups, s)
			}
		}
	case string:
		if g != "" {
			c.Groups = []string{g}
		}
	}
	switch s := raw["scope"].(type) {
	case string:
		c.Scope = s
	case []any:
		c.Scope = joinStrings(s)
	}
	if c.Scope == "" {
		if scp, ok := raw["scp"].([]any); ok {
			c.Scope = joinStrings(scp)
		}
	}
	if exp, ok := numericDate(raw["exp"]); ok {
		c.Expiry = exp
	}
	if cnf, ok := raw["cnf"].(map[string]any); ok {
		c.JKT, _ = cnf["jkt"].(string)
	}
	return c, nil
}

func joinStrings(xs []any) string {
	var b strings.Builder
	for _, x := range xs {
		if s, ok := x.(string); ok {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// Source says what authenticated a request.
type Source int

// The sources of an Identity.
const (
	// SourceNone: the request is anonymous (a public route).
	SourceNone Source = iota
	// SourceBearer: an access token (Authorization header or WebSocket
	// token subprotocol).
	SourceBearer
	// SourceSession: a sign-in session cookie.
	SourceSession
	// SourceDPoP: a DPoP-bound access token with a proof of its key.
	SourceDPoP
)

// String names the source for logs.
func (s Source) String() string {
	switch s {
	case SourceBearer:
		return "bearer"
	case SourceSession:
		return "session"
	case SourceDPoP:
		return "dpop"
	}
	return "none"
}

// Identity is who a request comes from, decided once per request and then
// passed explicitly to whatever acts on it (authorization rules, identity
// headers, the session assertion, WebSocket re-checks).
type Identity struct {
	// Claims are the viewer's claims; nil when Source is SourceNone.
	// Claims.Expiry is when the credential ends (token expiry, or session
	// end for SourceSession).
	Claims *Claims
	// Source is the credential the request was authenticated by.
	Source Source
	// SessionKey names the sign-in session this identity belongs to (a
	// session store key, never a cookie value): set for SourceSession, and
	// for a bearer whose subject is the same as the request's session's.
	// Empty means the request carries no session of this viewer.
	SessionKey string
}
