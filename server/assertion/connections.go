package assertion

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/page"
	"github.com/tokenhook/tokenhook/server/session"
)

// Connection is a configured connection: its spec, its resolved endpoints
// and its client secret (its OAuth client is registered with the broker
// under the same name).
type Connection struct {
	Spec      connection.Spec
	Endpoints connection.Endpoints
	Secret    string
}

// ResolveConnections resolves the configured connections: presets, and
// client secrets read from their files.
func ResolveConnections(specs []connection.Spec) (map[string]*Connection, error) {
	out := make(map[string]*Connection, len(specs))
	for _, sp := range specs {
		ep, err := connection.Resolve(sp)
		if err != nil {
			return nil, err
		}
		if _, dup := out[sp.Name]; dup {
			return nil, &connection.Error{Connection: sp.Name, Field: "name", Reason: "used twice"}
		}
		secret := sp.ClientSecret
		if sp.ClientSecretFile != "" {
			if secret != "" {
				return nil, &connection.Error{Connection: sp.Name, Field: "client-secret", Reason: "set client-secret or client-secret-file, not both"}
			}
			b, err := os.ReadFile(sp.ClientSecretFile)
			if err != nil {
				return nil, &connection.Error{Connection: sp.Name, Field: "client-secret-file", Reason: fmt.Sprintf("cannot read %s: %v", sp.ClientSecretFile, errors.Unwrap(err))}
			}
			secret = strings.TrimRight(string(b), "\r\n")
		}
		if secret == "" {
			return nil, &connection.Error{Connection: sp.Name, Field: "client-secret", Reason: "required (or client-secret-file)"}
		}
		out[sp.Name] = &Connection{Spec: sp, Endpoints: ep, Secret: secret}
	}
	return out, nil
}

// Transaction is what a connection's code flow keeps for the callback:
// the state, the PKCE verifier, where to return, the connection, and
// whether it runs in a popup.
type Transaction struct {
	State, Verifier, Return, Connection string
	Popup                               bool
}

// Connections links, lists and forgets the viewer's connections: the OAuth
// connections (Databricks, Snowflake, …) besides the sign-in provider whose
// tokens the exchange endpoint hands to the app's backend.
type Connections struct {
	// Known are the configured connections, by name.
	Known  map[string]*Connection
	Broker *broker.Broker
	// Session returns the request's live session and its store key, or an
	// error when it has none.
	Session func(r *http.Request) (*session.Session, string, error)
	// Begin keeps the code flow's transaction for the callback (which
	// calls Finish).
	Begin func(w http.ResponseWriter, r *http.Request, tx Transaction) error
	// SafeRedirect returns rd when it is a path on this origin, else "/".
	SafeRedirect func(rd string) string
	// LoginPath is where a viewer without a session signs in; ConnectPath
	// is the prefix of Connect's path, the connection's name follows it.
	LoginPath, ConnectPath string
	Log                    *slog.Logger
	Now                    func() time.Time
}

// Has reports whether name is a configured connection.
func (c *Connections) Has(name string) bool {
	_, ok := c.Known[name]
	return ok
}

// Connect starts linking a connection for the signed-in viewer:
// GET /_tokenhook/connect/{name}?rd=/path[&popup=1].
func (c *Connections) Connect(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !c.Has(name) {
		page.SignInNotice(w, http.StatusNotFound, "Unknown connection", "No connection named "+clip(name, 40)+" is configured.", "")
		return
	}
	rd := c.SafeRedirect(r.URL.Query().Get("rd"))
	if _, _, err := c.Session(r); err != nil {
		back := c.ConnectPath + url.PathEscape(name) + "?" + url.Values{"rd": {rd}}.Encode()
		http.Redirect(w, r, c.LoginPath+"?"+url.Values{"rd": {back}}.Encode(), http.StatusFound)
		return
	}
	p, err := c.Broker.Client(name).Discover(r.Context())
	if err != nil {
		c.Log.Warn("connection unavailable", "connection", name, "err", err)
		page.SignInNotice(w, http.StatusBadGateway, "Connection unavailable", "tokenhook cannot reach "+name+"'s sign-in right now. Try again in a moment.", "")
		return
	}
	tx := Transaction{State: rand.Text(), Verifier: oauth2.GenerateVerifier(), Return: rd, Connection: name, Popup: r.URL.Query().Get("popup") == "1"}
	if err := c.Begin(w, r, tx); err != nil {
		c.Log.Error("save connect transaction", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Connection failed", "tokenhook could not start linking the connection.", "")
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(tx.Verifier)}
	for k, v := range p.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.OAuth.AuthCodeURL(tx.State, opts...), http.StatusFound)
}

// Finish completes a connection's code flow: the callback calls it once the
// state has been checked, with the transaction Connect began.
func (c *Connections) Finish(w http.ResponseWriter, r *http.Request, code string, tx Transaction) {
	name := tx.Connection
	sess, key, err := c.Session(r)
	if err != nil {
		page.SignInNotice(w, http.StatusUnauthorized, "Signed out", "Your session ended while linking "+name+". Sign in and link it again.", c.LoginPath)
		return
	}
	client := c.Broker.Client(name)
	tok, err := client.Exchange(r.Context(), code, oauth2.VerifierOption(tx.Verifier))
	if errors.Is(err, broker.ErrUnavailable) {
		page.SignInNotice(w, http.StatusBadGateway, "Connection failed", "tokenhook cannot reach "+name+" right now.", "")
		return
	}
	if err != nil {
		c.Log.Warn("connection code exchange failed", "connection", name, "err", err)
		page.SignInNotice(w, http.StatusBadGateway, "Connection failed", name+" did not accept the link. Please try again.", "")
		return
	}
	err = c.Broker.Link(r.Context(), key, name, broker.TokenFrom(tok, client.Provider().OAuth.Scopes, c.Now()))
	if errors.Is(err, broker.ErrLoginRequired) {
		page.SignInNotice(w, http.StatusUnauthorized, "Signed out", "Your session ended while linking "+name+". Sign in and link it again.", c.LoginPath)
		return
	}
	if err != nil {
		c.Log.Error("save connection", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Connection failed", "tokenhook could not store the connection.", "")
		return
	}
	c.Log.Info("connection linked", "sub", sess.Subject, "connection", name)
	if tx.Popup {
		page.SignInNotice(w, http.StatusOK, "Connected", name+" is linked. You can close this window and return to the dashboard.", "")
		return
	}
	http.Redirect(w, r, tx.Return, http.StatusFound)
}

// connectionInfo is one entry of GET /_tokenhook/connections (never tokens).
type connectionInfo struct {
	Name       string `json:"name"`
	Preset     string `json:"preset,omitempty"`
	Connected  bool   `json:"connected"`
	ExpiresAt  int64  `json:"expires_at,omitempty"`
	Scope      string `json:"scope,omitempty"`
	ConnectURL string `json:"connect_url"`
}

// List answers GET /_tokenhook/connections: the configured connections and
// which of them the viewer linked, never their tokens.
func (c *Connections) List(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, _, err := c.Session(r)
	if err != nil {
		answer.Error(w, http.StatusUnauthorized, "login_required", "sign in at "+c.LoginPath)
		return
	}
	list := make([]connectionInfo, 0, len(c.Known))
	for name, k := range c.Known {
		ci := connectionInfo{Name: name, Preset: k.Spec.Preset, ConnectURL: c.ConnectPath + name}
		if t := sess.Connections[name]; t != nil {
			ci.Connected, ci.ExpiresAt, ci.Scope = true, t.Expiry.Unix(), t.Scope
		}
		list = append(list, ci)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	answer.JSON(w, http.StatusOK, map[string]any{"connections": list})
}

// Disconnect forgets a connection's tokens: DELETE
// /_tokenhook/connections/{name} with the X-TokenHook header.
func (c *Connections) Disconnect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !answer.BrowserCall(w, r) {
		return
	}
	name := r.PathValue("name")
	if !c.Has(name) {
		answer.Error(w, http.StatusNotFound, "not_found", "no such connection")
		return
	}
	_, key, err := c.Session(r)
	if err != nil {
		answer.Error(w, http.StatusUnauthorized, "login_required", "sign in at "+c.LoginPath)
		return
	}
	err = c.Broker.Unlink(r.Context(), key, name)
	if errors.Is(err, broker.ErrLoginRequired) {
		answer.Error(w, http.StatusUnauthorized, "login_required", "sign in at "+c.LoginPath)
		return
	}
	if err != nil {
		c.Log.Error("save session", "err", err)
		answer.Error(w, http.StatusInternalServerError, "server_error", "could not disconnect")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clip bounds untrusted text shown on pages or in answers.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
