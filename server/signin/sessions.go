package signin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/session"
)

// Sessions finds the session of a request through its session cookie, and
// starts and ends sessions. Build it with NewSessions.
type Sessions struct {
	// Store holds the sessions the cookies name.
	Store session.Store
	// StoreError, if not nil, is called each time Store fails to load a
	// session (for metrics).
	StoreError func()

	codec  *securecookie.SecureCookie
	name   string // the first-party session cookie
	embed  string // the session cookie of iframes (see SetEmbed)
	secure bool
	ttl    time.Duration
}

// NewSessions returns the sessions of store, named by cookies sealed with
// hashKey and blockKey (32 bytes each) that live for ttl. secure says
// whether tokenhook is served over https: its cookies are then __Host-
// cookies, Secure.
func NewSessions(store session.Store, hashKey, blockKey []byte, secure bool, ttl time.Duration) *Sessions {
	c := &Sessions{Store: store, secure: secure, ttl: ttl, name: "tokenhook", embed: "tokenhook-embed",
		codec: securecookie.New(hashKey, blockKey).MaxAge(int(ttl.Seconds())).SetSerializer(securecookie.NopEncoder{})}
	if secure {
		// __Host- cookies must be Secure, Path=/ and carry no Domain.
		c.name, c.embed = "__Host-tokenhook", "__Host-tokenhook-embed"
	}
	return c
}

// Start stores sess under a new random id, sets the session cookie and
// returns the id. A new id on every sign-in prevents session fixation.
func (c *Sessions) Start(w http.ResponseWriter, r *http.Request, sess *session.Session) (string, error) {
	id := randomString(32)
	if err := c.Store.Save(r.Context(), session.Key(id), sess); err != nil {
		return "", err
	}
	if err := c.set(w, c.name, id); err != nil {
		return "", err
	}
	return id, nil
}

// SetEmbed sets the embed cookie, the session cookie of an iframe that
// claimed a sign-in, naming session id.
func (c *Sessions) SetEmbed(w http.ResponseWriter, id string) error { return c.set(w, c.embed, id) }

// set sets a cookie carrying the session id. The first-party cookie is
// SameSite=Lax. The embed cookie must travel in a cross-site iframe:
// SameSite=None, and therefore Secure, and Partitioned (CHIPS) so browsers
// that block third-party cookies keep it in the iframe's own top-level-site
// partition.
func (c *Sessions) set(w http.ResponseWriter, name, id string) error {
	val, err := c.codec.Encode(name, []byte(id))
	if err != nil {
		return fmt.Errorf("encode session cookie: %w", err)
	}
	ck := &http.Cookie{Name: name, Value: val, Path: "/", MaxAge: int(c.ttl.Seconds()), HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
	if name == c.embed {
		ck.SameSite, ck.Secure, ck.Partitioned = http.SameSiteNoneMode, true, true
	}
	http.SetCookie(w, ck)
	return nil
}

// Key returns the store key of the request's session cookie (the
// first-party one, else the embed one), or "". A tampered, foreign or
// expired cookie yields "".
func (c *Sessions) Key(r *http.Request) string {
	for _, name := range []string{c.name, c.embed} {
		ck, err := r.Cookie(name)
		if err != nil || len(ck.Value) > 4096 {
			continue
		}
		var id []byte
		if err := c.codec.Decode(name, ck.Value, &id); err != nil || len(id) == 0 {
			continue
		}
		return session.Key(string(id))
	}
	return ""
}

// Load returns the request's live session and its key. It fails with
// broker.ErrLoginRequired when the request names no live session (the key
// is still returned when a cookie named one), and with the store's error
// when the store could not answer.
func (c *Sessions) Load(r *http.Request) (*session.Session, string, error) {
	key := c.Key(r)
	if key == "" {
		return nil, "", broker.ErrLoginRequired
	}
	sess, err := c.Store.Load(r.Context(), key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, key, broker.ErrLoginRequired
	}
	if err != nil {
		if c.StoreError != nil {
			c.StoreError()
		}
		return nil, key, err
	}
	return sess, key, nil
}

// Clear removes both session cookies from the browser.
func (c *Sessions) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: c.embed, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode, Partitioned: true})
}
