// Package idp runs a real OpenID provider (Dex's server package, memory storage)
// inside the current process. tokenhook's demo uses it so nothing has to be
// registered at an external identity provider, and the tests use it as the real
// provider they sign in against.
package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	gosundheit "github.com/AppsFlyer/go-sundheit"
	dex "github.com/dexidp/dex/server"
	"github.com/dexidp/dex/server/signer"
	"github.com/dexidp/dex/server/tokens"
	"github.com/dexidp/dex/storage"
	"github.com/dexidp/dex/storage/memory"
	"golang.org/x/crypto/bcrypt"
)

// User is a static password user of the provider.
type User struct {
	Email    string
	Password string
	Name     string   // optional display name; defaults to the part of Email before '@'
	Groups   []string // optional groups claim
}

// Client is an OAuth client registered at the provider.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
	// PostLogoutRedirectURIs are allowed targets after RP-initiated logout.
	PostLogoutRedirectURIs []string
}

// Options configures a Provider.
type Options struct {
	// Issuer is the provider's public base URL, for example
	// "http://127.0.0.1:5556/dex". Its host and port are where Start listens
	// unless Listener is set.
	Issuer string
	// Listener, when set, is used instead of listening on Issuer's host.
	Listener net.Listener
	Users    []User
	Clients  []Client
	// TokenTTL is the lifetime of access and ID tokens (default one hour).
	TokenTTL time.Duration
	// Logger receives Dex's logs (default: discarded).
	Logger *slog.Logger
	// Wrap, when set, wraps the provider's HTTP handler (tests count requests).
	Wrap func(http.Handler) http.Handler
}

// Provider is a running in-process OpenID provider.
type Provider struct {
	// Issuer is the provider's issuer URL.
	Issuer  string
	handler http.Handler
	logger  *slog.Logger
	srv     *http.Server // set by Start
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds a provider without serving it: the Provider is an http.Handler
// to mount at the issuer URL's path (for example under "/dex/" of a server
// that also serves other things). Close releases it.
func New(ctx context.Context, o Options) (*Provider, error) {
	if o.Issuer == "" {
		return nil, errors.New("idp: issuer is required")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ttl := o.TokenTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	passwords := make([]storage.Password, 0, len(o.Users))
	for i, u := range o.Users {
		// Dex refuses bcrypt costs below 10.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
		if err != nil {
			return nil, fmt.Errorf("idp: hash password of %s: %w", u.Email, err)
		}
		name := u.Name
		if name == "" {
			name = localPart(u.Email)
		}
		passwords = append(passwords, storage.Password{
			Email: u.Email, Hash: hash, Username: name, Name: name,
			PreferredUsername: localPart(u.Email), UserID: fmt.Sprintf("user-%d", i+1), Groups: u.Groups,
		})
	}
	clients := make([]storage.Client, 0, len(o.Clients))
	for _, c := range o.Clients {
		clients = append(clients, storage.Client{
			ID: c.ID, Secret: c.Secret, RedirectURIs: c.RedirectURIs,
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Name: c.ID,
		})
	}

	var st storage.Storage = &casRefreshStorage{Storage: memory.New(logger)}
	st = storage.WithStaticClients(st, clients)
	st = storage.WithStaticPasswords(st, passwords, logger)
	st = storage.WithStaticConnectors(st, []storage.Connector{{ID: "local", Type: "local", Name: "Email"}})

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sig, err := (&signer.LocalConfig{KeysRotationPeriod: "6h"}).Open(runCtx, st, ttl, time.Now, logger)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("idp: signer: %w", err)
	}
	srv, err := dex.NewServer(runCtx, dex.Config{
		Issuer:                 o.Issuer,
		Storage:                st,
		Logger:                 logger,
		Signer:                 sig,
		SkipApprovalScreen:     true,
		SupportedResponseTypes: []string{"code"},
		IDTokensValidFor:       ttl,
		// Rotate refresh tokens on every use with no reuse window: the strictest
		// behaviour real providers show, so racing refreshes fail loudly.
		RefreshTokenPolicy: tokens.NewRefreshStrategy(true, 0, 0, 0, time.Now),
		HealthChecker:      gosundheit.New(),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("idp: start dex: %w", err)
	}
	var h http.Handler = srv
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	return &Provider{Issuer: o.Issuer, handler: h, cancel: cancel, logger: logger}, nil
}

// ServeHTTP serves the provider's endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Start builds a provider and serves it on Options.Listener, or on the
// issuer's host and port. It returns once the provider accepts connections.
func Start(ctx context.Context, o Options) (*Provider, error) {
	ln := o.Listener
	if ln == nil {
		host, err := hostPort(o.Issuer)
		if err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", host); err != nil {
			return nil, fmt.Errorf("idp: listen on %s: %w", host, err)
		}
	}
	p, err := New(ctx, o)
	if err != nil {
		ln.Close()
		return nil, err
	}
	p.srv = &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.logger.Error("idp: serve", "err", err)
		}
	}()
	return p, nil
}

// Close stops the provider (and its listener when Start opened one).
func (p *Provider) Close() error {
	var err error
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = p.srv.Shutdown(ctx)
		<-p.done
	}
	p.cancel()
	return err
}

// casRefreshStorage works around a deadlock in Dex's memory storage: its
// UpdateRefreshToken holds the storage mutex while calling the updater, and the
// refresh grant's updater calls GetOfflineSessions, which takes the same mutex.
// Here the updater runs outside the lock, and the result is written back only if
// the stored token did not change meanwhile (compare and swap, retried).
type casRefreshStorage struct {
	storage.Storage
	mu sync.Mutex // serialises the swap step of concurrent updates
}

// UpdateRefreshToken implements storage.Storage without holding a lock while
// the updater runs.
func (s *casRefreshStorage) UpdateRefreshToken(ctx context.Context, id string, updater func(storage.RefreshToken) (storage.RefreshToken, error)) error {
	for attempt := 0; attempt < 16; attempt++ {
		cur, err := s.Storage.GetRefresh(ctx, id)
		if err != nil {
			return err
		}
		next, err := updater(cur)
		if err != nil {
			return err
		}
		s.mu.Lock()
		now, err := s.Storage.GetRefresh(ctx, id)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		if !reflect.DeepEqual(now, cur) {
			s.mu.Unlock()
			continue // changed underneath us: run the updater again on the new value
		}
		err = s.Storage.UpdateRefreshToken(ctx, id, func(storage.RefreshToken) (storage.RefreshToken, error) { return next, nil })
		s.mu.Unlock()
		return err
	}
	return errors.New("idp: refresh token update kept conflicting")
}

func localPart(email string) string {
	for i := 0; i < len(email); i++ {
		if email[i] == '@' {
			return email[:i]
		}
	}
	return email
}
