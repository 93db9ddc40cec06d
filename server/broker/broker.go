// Package broker holds viewers' OAuth tokens for tokenhook: it owns the
// registered OAuth clients (the sign-in provider is one client among the
// connections), discovers their providers along one back-off path, and
// refreshes token sets with one algorithm that is safe for concurrent
// callers, and across processes when they share a Locker and a store.
package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/session"
)

var (
	// ErrLoginRequired means the session has ended (or its refresh token
	// died): the viewer must sign in again.
	ErrLoginRequired = errors.New("login required")
	// ErrConnectionRequired means the viewer has not linked the connection
	// (or its refresh token died).
	ErrConnectionRequired = errors.New("connection not linked")
	// ErrUnavailable means the provider could not be reached (down, hung
	// past the timeout, answering 5xx, or backing off after such a failure)
	// and no usable token was at hand.
	ErrUnavailable = errors.New("identity provider unavailable")
)

// Defaults of Options.
const (
	DefaultTimeout        = 3 * time.Second
	DefaultCallTimeout    = 15 * time.Second
	DefaultForcedInterval = 30 * time.Second
	DefaultRefreshSkew    = time.Minute
)

// validWait is the longest a caller that holds a still-valid token waits for a
// refresh (its own or another caller's) before taking the token it has.
const validWait = 500 * time.Millisecond

// Options configure a Broker.
type Options struct {
	// Store holds the sessions (required).
	Store session.Store
	// Locker serialises refreshes per session key; nil is a new
	// StripedLocker (right for one process; replicas sharing a store need a
	// shared Locker).
	Locker Locker
	// HTTPClient makes every call to the providers; nil is a client without
	// its own timeout (each call is bounded by Timeout).
	HTTPClient *http.Client
	// Timeout bounds discovery and code exchange calls, and how long a
	// caller waits for a refresh (default DefaultTimeout). A refresh call
	// without an answer by then marks the provider unreachable.
	Timeout time.Duration
	// CallTimeout bounds the refresh call itself (default
	// DefaultCallTimeout). It runs on after its callers stopped waiting,
	// holding the session's lock, because a provider that answers late has
	// already rotated the refresh token: dropping the answer would end the
	// session.
	CallTimeout time.Duration
	// RefreshSkew: access tokens are refreshed this long before they expire
	// (capped at a third of their lifetime; default DefaultRefreshSkew).
	RefreshSkew time.Duration
	// ForcedInterval is the least time between two refreshes forced by a
	// stale-token report for the same token set (default
	// DefaultForcedInterval).
	ForcedInterval time.Duration
	// Logger receives one line per provider outage and recovery, and per
	// dead refresh token (never a token). nil discards.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// OnRefresh, when set, is told about every refresh call this process
	// makes at a provider, once it ends (for metrics and audit logs).
	OnRefresh func(RefreshEvent)
}

// RefreshEvent describes one refresh at a provider. It never holds a token.
type RefreshEvent struct {
	// Client is the client's name ("" for the sign-in provider).
	Client string
	// Subject is the session's subject.
	Subject string
	// Took is how long the refresh took (provider call, reload and save).
	Took time.Duration
	// Err is nil on success; ErrLoginRequired or ErrConnectionRequired when
	// the token set ended (its refresh token refused, or signed out
	// meanwhile); else why the refresh failed.
	Err error
}

// Broker hands out viewers' access tokens, refreshing them when due. Every
// method is safe for concurrent use. A refresh of one token set runs at most
// once at a time per session key (under the Locker), and callers that waited
// take the winner's token instead of refreshing again.
type Broker struct {
	o       Options
	signin  *Client
	clients map[string]*Client // connections by name
	names   []string           // connection names, in registration order
}

// New registers the sign-in client and the connections' clients. Nothing is
// discovered yet: call DiscoverSignIn (connections are discovered on first
// use).
func New(o Options, signin ClientConfig, conns ...ClientConfig) (*Broker, error) {
	if o.Store == nil {
		return nil, errors.New("broker: Options.Store is required")
	}
	if o.Locker == nil {
		o.Locker = NewStripedLocker()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CallTimeout < o.Timeout {
		o.CallTimeout = max(o.Timeout, DefaultCallTimeout)
	}
	if o.RefreshSkew <= 0 {
		o.RefreshSkew = DefaultRefreshSkew
	}
	if o.ForcedInterval <= 0 {
		o.ForcedInterval = DefaultForcedInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Broker{o: o, clients: make(map[string]*Client, len(conns))}
	if signin.Name != "" {
		return nil, errors.New("broker: the sign-in client has no name")
	}
	b.signin = b.newClient(signin)
	for _, cc := range conns {
		if cc.Name == "" {
			return nil, errors.New("broker: a connection needs a name")
		}
		if _, dup := b.clients[cc.Name]; dup {
			return nil, fmt.Errorf("broker: connection %s registered twice", cc.Name)
		}
		b.clients[cc.Name] = b.newClient(cc)
		b.names = append(b.names, cc.Name)
	}
	return b, nil
}

func (b *Broker) newClient(cc ClientConfig) *Client {
	return &Client{cfg: cc, http: b.o.HTTPClient, timeout: b.o.Timeout, now: b.o.Now, log: b.o.Logger}
}

// SignIn is the sign-in provider's client.
func (b *Broker) SignIn() *Client { return b.signin }

// Client returns the client called name ("" for the sign-in provider), or
// nil if there is none.
func (b *Broker) Client(name string) *Client {
	if name == "" {
		return b.signin
	}
	return b.clients[name]
}

// Status returns every client's provider state, the sign-in provider first.
func (b *Broker) Status() []Status {
	out := []Status{b.signin.Status()}
	for _, n := range b.names {
		out = append(out, b.clients[n].Status())
	}
	return out
}

// DiscoverSignIn discovers the sign-in provider, retrying with back-off until
// it succeeds or ctx ends, so tokenhook can start before its provider.
func (b *Broker) DiscoverSignIn(ctx context.Context) {
	c := b.signin
	for {
		if _, err := c.Discover(ctx); err == nil {
			b.o.Logger.Info("identity provider ready", "issuer", c.cfg.Issuer)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(c.health.RetryAt())):
		}
	}
}

// TokenHash is the value the browser hook sends to report a token a backend
// refused: the unpadded base64url SHA-256 of the access token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenOf returns the token set name ("" for the sign-in provider) of sess.
func tokenOf(sess *session.Session, name string) *session.Token {
	if name == "" {
		return &sess.Token
	}
	return sess.Connections[name]
}

// check is what a caller knows about its token set at one moment.
type check struct {
	due    bool // refresh now (time, or a stale report not capped)
	usable bool // not expired, and not the token a backend refused
}

// judge decides whether t needs a refresh at now. stale is the hash of a
// token a backend refused (or ""); a stale report forces a refresh at most
// once per ForcedInterval per token set.
func (b *Broker) judge(t *session.Token, stale string, now time.Time) check {
	skew := b.o.RefreshSkew
	if life := t.Expiry.Sub(t.IssuedAt); life > 0 && life/3 < skew {
		skew = life / 3
	}
	timeDue := !now.Add(skew).Before(t.Expiry)
	refused := stale != "" && subtle.ConstantTimeCompare([]byte(stale), []byte(TokenHash(t.AccessToken))) == 1
	live := now.Before(t.Expiry)
	if refused && !timeDue && !t.Forced.IsZero() && now.Sub(t.Forced) < b.o.ForcedInterval {
		// The page asks again soon after a forced refresh: the resource
		// refuses this (fresh) token for its own reasons. Keep the token.
		return check{usable: live}
	}
	return check{due: timeDue || refused, usable: live && !refused}
}

// Token returns the token set name ("" for the sign-in provider) of sess,
// stored under key, refreshed first when it is due: within the skew window
// of its expiry, or the one a backend refused (stale is its TokenHash).
// Refresh follows one algorithm: lock key, reload the session, refresh only
// if still needed, save, unlock; callers that waited take the winner's
// token. sess must be the caller's own (as Store.Load returns it) and is not
// changed; the answer points into it when no refresh was made.
//
// Faults: while a refresh is impossible (provider down, hung past Timeout,
// or backing off after a failure) a caller whose token is still valid gets
// that token, waiting at most half a second (and not at all once a refresh
// at the provider has outlived a caller's wait); others get ErrUnavailable
// within about Timeout. A refresh token the provider refuses ends the token
// set: ErrLoginRequired for the sign-in provider (the session is deleted),
// ErrConnectionRequired for a connection (the link is removed).
//
// A refresh, once sent, always runs to its end and is saved even if ctx is
// cancelled: a rotated refresh token must not be lost.
func (b *Broker) Token(ctx context.Context, key string, sess *session.Session, name, stale string) (*session.Token, error) {
	c := b.Client(name)
	if c == nil {
		return nil, ErrConnectionRequired
	}
	t := tokenOf(sess, name)
	if t == nil {
		return nil, ErrConnectionRequired
	}
	start := b.o.Now()
	ck := b.judge(t, stale, start)
	if !ck.due {
		return t, nil
	}
	if ck.usable && c.stalled.Load() > 0 {
		return t, nil // a refresh at this provider is slow: do not queue behind it
	}
	if c.health.Waiting(start) {
		// The provider failed lately: retry the refresh after the back-off.
		if ck.usable {
			return t, nil
		}
		return nil, c.unavailable()
	}
	held := copyOf(t)
	wait := b.o.Timeout // for the holder's refresh
	if ck.usable {
		wait = validWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, won, err := b.lockOrWinner(wctx, c, key, held.AccessToken, stale)
	if won != nil {
		return won, nil
	}
	if err != nil {
		if ck.usable && ctx.Err() == nil {
			return held, nil
		}
		return nil, fmt.Errorf("%w: waiting for the refresh under way: %w", ErrUnavailable, err)
	}
	ch, tok, err := b.refreshLocked(ctx, c, key, held.AccessToken, stale)
	if ch == nil {
		unlock()
		return tok, err
	}
	var outlived atomic.Bool // a caller stopped waiting for this refresh
	go func() {
		defer unlock()
		began := b.o.Now()
		r := b.refresh(ctx, c, key, tok, stale)
		if b.o.OnRefresh != nil {
			b.o.OnRefresh(RefreshEvent{Client: c.cfg.Name, Subject: sess.Subject, Took: b.o.Now().Sub(began), Err: r.err})
		}
		ch <- r
		if outlived.Load() {
			c.stalled.Add(-1)
		}
	}()
	var r result
	select {
	case r = <-ch:
	case <-wctx.Done():
		if !outlived.Swap(true) {
			c.stalled.Add(1)
		}
		if ck.usable && ctx.Err() == nil {
			return held, nil
		}
		return nil, fmt.Errorf("%w: refresh: %w", ErrUnavailable, wctx.Err())
	}
	if r.err != nil && ck.usable && !errors.Is(r.err, ErrLoginRequired) && !errors.Is(r.err, ErrConnectionRequired) {
		return held, nil
	}
	return r.tok, r.err
}

// Waiters for key's lock also reload the session, every pollMin at first and
// backing off to pollMax, so they take a winner's token as soon as it is
// saved instead of queueing for the lock one after the other (a shared lock
// such as a Redis lease hands over only as fast as its waiters poll it).
const (
	pollMin = 10 * time.Millisecond
	pollMax = 100 * time.Millisecond
)

// lockOrWinner takes key's lock, unless another caller saves a new token
// (one that is not seen, not expired and not the stale one) first: then it
// returns that token and holds nothing.
func (b *Broker) lockOrWinner(ctx context.Context, c *Client, key, seen, stale string) (unlock func(), won *session.Token, err error) {
	type locked struct {
		unlock func()
		err    error
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan locked, 1)
	go func() {
		u, err := b.o.Locker.Lock(lctx, key)
		got <- locked{u, err}
	}()
	poll := time.NewTimer(pollMin)
	defer poll.Stop()
	for every := pollMin; ; every = min(every*2, pollMax) {
		select {
		case l := <-got:
			return l.unlock, nil, l.err
		case <-poll.C:
		}
		sess, err := b.o.Store.Load(ctx, key)
		if err == nil {
			if t := tokenOf(sess, c.cfg.Name); t != nil && t.AccessToken != seen && b.o.Now().Before(t.Expiry) && (stale == "" || stale != TokenHash(t.AccessToken)) {
				go func() { // the lock may still come: give it back
					if l := <-got; l.err == nil {
						l.unlock()
					}
				}()
				return nil, t, nil
			}
		}
		poll.Reset(every)
	}
}

// result is the outcome of a refresh.
type result struct {
	tok *session.Token
	err error
}

// refreshLocked runs with key's lock held: it reloads the session and
// decides. It returns a channel (and the reloaded session's token set, to be
// passed to refresh) when a refresh must be made; else the answer.
func (b *Broker) refreshLocked(ctx context.Context, c *Client, key, seen, stale string) (chan result, *session.Token, error) {
	sess, err := b.o.Store.Load(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, nil, ErrLoginRequired
	}
	if err != nil {
		return nil, nil, err
	}
	t := tokenOf(sess, c.cfg.Name)
	if t == nil {
		return nil, nil, ErrConnectionRequired
	}
	now := b.o.Now()
	// Another caller refreshed while this one waited: its token is the
	// answer, even if the provider issues lifetimes shorter than our skew.
	if t.AccessToken != seen && now.Before(t.Expiry) && (stale == "" || stale != TokenHash(t.AccessToken)) {
		return nil, copyOf(t), nil
	}
	ck := b.judge(t, stale, now)
	if !ck.due {
		return nil, copyOf(t), nil
	}
	if t.RefreshToken == "" {
		if now.Before(t.Expiry) {
			return nil, copyOf(t), nil // nothing better to give; the backend will decide
		}
		return nil, nil, b.dead(ctx, c, key, sess)
	}
	if c.health.Waiting(now) {
		if ck.usable {
			return nil, copyOf(t), nil
		}
		return nil, nil, c.unavailable()
	}
	return make(chan result, 1), t, nil
}

// refresh redeems t's refresh token and saves the new token set. It runs
// with key's lock held, is not cancelled with ctx, and is bounded by
// CallTimeout; without an answer after Timeout it marks the provider
// unreachable (callers then stop waiting for it and back off).
func (b *Broker) refresh(ctx context.Context, c *Client, key string, t *session.Token, stale string) result {
	ctx = context.WithoutCancel(ctx)
	p, err := c.Discover(ctx)
	if err != nil {
		return result{err: err}
	}
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.http), b.o.CallTimeout)
	defer cancel()
	slow := time.AfterFunc(b.o.Timeout, func() { c.failed(fmt.Errorf("refresh: no answer within %v", b.o.Timeout)) })
	now := b.o.Now()
	tok, err := p.OAuth.TokenSource(rctx, &oauth2.Token{RefreshToken: t.RefreshToken}).Token()
	slow.Stop()
	if err != nil {
		err = c.callError("refresh", err)
		var re *RefreshError
		if errors.As(err, &re) {
			c.refusals.Add(1)
		}
		if errors.As(err, &re) && re.dead() {
			// Reload: the session object t belongs to is ours alone.
			sess, lerr := b.o.Store.Load(ctx, key)
			if lerr != nil {
				return result{err: ErrLoginRequired}
			}
			b.o.Logger.Info("refresh token rejected", "sub", sess.Subject, "client", c.label(), "err", err)
			return result{err: b.dead(ctx, c, key, sess)}
		}
		return result{err: err}
	}
	c.answered()
	c.refreshes.Add(1)
	nt := TokenFrom(tok, nil, now)
	if nt.RefreshToken == "" {
		nt.RefreshToken = t.RefreshToken // not rotated
	}
	if nt.TokenType == "" {
		nt.TokenType = t.TokenType
	}
	if nt.Scope == "" {
		nt.Scope = t.Scope
	}
	nt.Forced = t.Forced
	if stale != "" && stale == TokenHash(t.AccessToken) {
		nt.Forced = now
	}
	// Save into the session as it is now (reloaded under the lock).
	sess, err := b.o.Store.Load(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return result{err: ErrLoginRequired} // signed out meanwhile
	}
	if err != nil {
		return result{err: fmt.Errorf("reload session: %w", err)}
	}
	if cur := tokenOf(sess, c.cfg.Name); cur == nil {
		return result{err: ErrConnectionRequired} // unlinked meanwhile
	} else {
		*cur = nt
	}
	if err := b.o.Store.Save(ctx, key, sess); err != nil {
		return result{err: fmt.Errorf("save refreshed session: %w", err)}
	}
	b.o.Logger.Debug("access token refreshed", "sub", sess.Subject, "client", c.label())
	return result{tok: copyOf(&nt)}
}

// dead ends a token set whose refresh token is gone: the whole session for
// the sign-in provider, only the link for a connection.
func (b *Broker) dead(ctx context.Context, c *Client, key string, sess *session.Session) error {
	if c.cfg.Name == "" {
		_ = b.o.Store.Delete(ctx, key)
		return ErrLoginRequired
	}
	delete(sess.Connections, c.cfg.Name)
	if err := b.o.Store.Save(ctx, key, sess); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return ErrConnectionRequired
}

// Link stores t as the connection name's token set of the session under key
// (after a connection's code exchange), under key's lock.
func (b *Broker) Link(ctx context.Context, key, name string, t session.Token) error {
	return b.update(ctx, key, func(sess *session.Session) {
		if sess.Connections == nil {
			sess.Connections = map[string]*session.Token{}
		}
		sess.Connections[name] = &t
	})
}

// Unlink forgets the connection name's tokens of the session under key,
// under key's lock.
func (b *Broker) Unlink(ctx context.Context, key, name string) error {
	return b.update(ctx, key, func(sess *session.Session) { delete(sess.Connections, name) })
}

// update applies change to the session under key: lock, reload, change,
// save, unlock.
func (b *Broker) update(ctx context.Context, key string, change func(*session.Session)) error {
	lctx, cancel := context.WithTimeout(ctx, b.o.Timeout+time.Second)
	defer cancel()
	unlock, err := b.o.Locker.Lock(lctx, key)
	if err != nil {
		return fmt.Errorf("lock session: %w", err)
	}
	defer unlock()
	sess, err := b.o.Store.Load(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return ErrLoginRequired
	}
	if err != nil {
		return err
	}
	change(sess)
	return b.o.Store.Save(ctx, key, sess)
}

// TokenSource returns the token set name ("" for the sign-in provider) of the
// session under key as an oauth2.TokenSource, the golang.org/x/oauth2 way:
// each Token call loads the session and refreshes through the broker when
// due (so a refresh is shared with every other caller of the session). Safe
// for concurrent use; ctx bounds every call.
func (b *Broker) TokenSource(ctx context.Context, key, name string) oauth2.TokenSource {
	return &tokenSource{ctx: ctx, b: b, key: key, name: name}
}

type tokenSource struct {
	ctx       context.Context
	b         *Broker
	key, name string
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	sess, err := s.b.o.Store.Load(s.ctx, s.key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, ErrLoginRequired
	}
	if err != nil {
		return nil, err
	}
	t, err := s.b.Token(s.ctx, s.key, sess, s.name, "")
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry}, nil
}

// TokenFrom converts a token endpoint answer obtained at now. requested is
// the scope asked for, used when the answer names none. An answer without
// expires_in is given an hour.
func TokenFrom(tok *oauth2.Token, requested []string, now time.Time) session.Token {
	scope, _ := tok.Extra("scope").(string)
	if scope == "" {
		scope = strings.Join(requested, " ")
	}
	t := session.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.Type(),
		Scope: scope, IssuedAt: now, Expiry: tok.Expiry}
	if t.Expiry.IsZero() {
		t.Expiry = now.Add(time.Hour)
	}
	return t
}

func copyOf(t *session.Token) *session.Token {
	c := *t
	return &c
}
