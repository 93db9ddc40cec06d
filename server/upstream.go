package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/verify"
)

// identityHeaders are set from validated claims and always removed from what
// the client sent.
var identityHeaders = []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username"}

// newUpstream builds the reverse proxy to cfg.Upstream: a transport that
// keeps many idle connections (Go's default of two per host makes a new TCP
// connection per request under load), bounded dial and response-header
// times, and readable 502/504 answers.
func (s *Server) newUpstream() (http.Handler, error) {
	target, err := url.Parse(s.cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	tr := &http.Transport{
		Proxy:                 nil, // never send dashboard traffic through an environment proxy
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: s.cfg.UpstreamTimeout,
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host // the app sees the public host
		},
		Transport: tr,
		ErrorLog:  nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, title := http.StatusBadGateway, "The dashboard is not answering"
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				status, title = http.StatusGatewayTimeout, "The dashboard took too long to answer"
			}
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			s.log.Warn("upstream request failed", "path", r.URL.Path, "status", status, "err", err)
			if wantsHTML(r) {
				s.renderPage(w, status, title, "tokenhook could not reach the dashboard app. Try again in a moment.", "")
				return
			}
			writeJSONError(w, status, "upstream_unavailable", strings.ToLower(title))
		},
	}
	return rp, nil
}

// wantsHTML reports whether r is a page navigation (as opposed to an API,
// XHR or asset request, which must never be redirected).
func wantsHTML(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" {
		return m == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// requiresBearer reports whether r must carry a bearer token: every request
// that can change something (not GET, HEAD or OPTIONS) and everything under
// the configured API paths.
func (s *Server) requiresBearer(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return true
	}
	for _, p := range s.cfg.APIPaths {
		if r.URL.Path == strings.TrimSuffix(p, "/") || strings.HasPrefix(r.URL.Path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// writeBearerError answers per RFC 6750 (see verify.WriteError): expired
// tokens say "JWT Expired", which Dash's renderer looks for to refresh.
func (s *Server) writeBearerError(w http.ResponseWriter, err error) {
	verify.WriteError(w, "tokenhook", err)
}

// identity is who the forwarded request is for.
type identity struct {
	user, email, username string
	groups                []string
}

func (id identity) set(h http.Header) {
	for k, v := range map[string]string{"X-Forwarded-User": id.user, "X-Forwarded-Email": id.email,
		"X-Forwarded-Preferred-Username": id.username, "X-Forwarded-Groups": strings.Join(id.groups, ",")} {
		if v != "" {
			h.Set(k, v)
		}
	}
}

// sessionIdentity reads the identity of a session from its ID token claims.
func sessionIdentity(subject, email string, claims []byte) identity {
	id := identity{user: subject, email: email}
	var c struct {
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
	}
	if json.Unmarshal(claims, &c) == nil {
		id.username, id.groups = c.PreferredUsername, c.Groups
	}
	return id
}

// sessionClaims presents a session's ID token claims for authorization rules.
func (s *Server) sessionClaims(sess *session.Session) *verify.Claims {
	c := &verify.Claims{Subject: sess.Subject, Email: sess.Email, Raw: map[string]any{}}
	if json.Unmarshal(sess.Claims, &c.Raw) == nil {
		switch g := c.Raw[s.cfg.GroupsClaim].(type) {
		case []any:
			for _, v := range g {
				if str, ok := v.(string); ok {
					c.Groups = append(c.Groups, str)
				}
			}
		case string:
			c.Groups = strings.Fields(g)
		}
	}
	return c
}

// stripOwnCookies removes tokenhook's cookies from the request: the app never
// sees them (and upstream header limits are not spent on them).
func (s *Server) stripOwnCookies(r *http.Request) {
	if r.Header.Get("Cookie") == "" {
		return
	}
	var kept []string
	for _, c := range r.Cookies() {
		if !s.ownCookie(c.Name) {
			kept = append(kept, c.String())
		}
	}
	if len(kept) == 0 {
		r.Header.Del("Cookie")
		return
	}
	r.Header.Set("Cookie", strings.Join(kept, "; "))
}
