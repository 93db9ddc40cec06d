// Package session keeps tokenhook's server-side sessions: the viewer's tokens
// live here, and the browser's cookie holds only an opaque session id.
//
// Stores are addressed by a key derived from the session id (see Key), so a
// store's contents never reveal a cookie value. A Redis or SQL store only has to
// implement the three methods of Store; Finder and Bus are the other
// shared-state contracts a store can offer (one-time keys: package once).
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by Store.Load when no live session has the key.
var ErrNotFound = errors.New("session: not found")

// Token is one OAuth token set. It holds secrets: never log it.
type Token struct {
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt,omitempty"`
	TokenType    string    `json:"tt,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"exp"` // access token expiry
	IssuedAt     time.Time `json:"iat"` // when the access token was obtained
	// Forced is when a refresh was last forced by a backend refusing the
	// token (the broker caps how often that may happen).
	Forced time.Time `json:"forced,omitzero"`
}

// Session is one signed-in viewer's state. It holds tokens: never log it.
type Session struct {
	// Token is the sign-in provider's token set.
	Token
	// Subject and Email identify the viewer (from the ID token when the
	// provider is OpenID Connect).
	Subject string `json:"sub,omitempty"`
	Email   string `json:"email,omitempty"`
	// SID is the provider's session id (the ID token's sid claim), which
	// back-channel logout tokens name.
	SID string `json:"sid,omitempty"`
	// Claims are the ID token's claims (JSON object) served by /userinfo.
	Claims []byte `json:"claims,omitempty"`
	// Connections holds the tokens of the viewer's linked connections, by name.
	Connections map[string]*Token `json:"conns,omitempty"`

	Created   time.Time `json:"created"`   // sign-in time
	ExpiresAt time.Time `json:"expiresAt"` // end of the session itself
}

// Clone returns a deep copy of s.
func (s *Session) Clone() *Session {
	c := *s
	c.Claims = append([]byte(nil), s.Claims...)
	if s.Connections != nil {
		c.Connections = make(map[string]*Token, len(s.Connections))
		for k, v := range s.Connections {
			t := *v
			c.Connections[k] = &t
		}
	}
	return &c
}

// Live reports whether the session itself (not its access token) is still valid.
func (s *Session) Live(now time.Time) bool {
	return s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)
}

// Store persists sessions by key. Implementations must be safe for concurrent
// use and must return ErrNotFound for missing or ended sessions.
type Store interface {
	// Load returns the session stored under key.
	Load(ctx context.Context, key string) (*Session, error)
	// Save stores s under key, replacing any earlier value. The store may drop
	// it after s.ExpiresAt.
	Save(ctx context.Context, key string, s *Session) error
	// Delete removes the session; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// matches reports whether s belongs to the provider session sid (when sid is
// set) of the subject sub (when sub is set). Both empty match nothing.
func (s *Session) matches(sid, sub string) bool {
	if sid == "" && sub == "" {
		return false
	}
	return (sid == "" || s.SID == sid) && (sub == "" || s.Subject == sub)
}

// Finder finds sessions by the provider's session id or subject, for
// back-channel logout and revocation by an administrator.
type Finder interface {
	// Find returns the keys of the sessions with the provider session id sid
	// (when sid is set) and the subject sub (when sub is set). Both empty
	// find nothing. Keys of sessions that ended meanwhile may be included.
	Find(ctx context.Context, sid, sub string) ([]string, error)
}

// UnavailableError reports that a store could not be reached or answered
// with an error: the session may well exist. Servers answer it with 503
// naming Store, never by signing the viewer out.
type UnavailableError struct {
	Store string // "redis", "file", …
	Op    string // load, save, delete, …
	Err   error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("session store %s unavailable: %s: %v", e.Store, e.Op, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Key derives the storage key of a session id: stores never see the id
// itself, so reading a store does not give anyone a usable cookie.
func Key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}
