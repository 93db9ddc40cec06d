package verify

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/server/dpop"
)

// Rule restricts who may use the paths under PathPrefix. A user matches when
// any of the lists matches (email exact, email domain, or group); a rule with
// all lists empty admits every valid token. Email and domain matches require
// that the token does not say email_verified=false.
type Rule struct {
	PathPrefix string
	Emails     []string
	Domains    []string
	Groups     []string
}

// Rules is a set of per-path authorization rules: for a request path the rule
// with the longest matching PathPrefix applies; a path no rule covers admits
// every valid token (add a Rule with PathPrefix "/" to restrict everything).
type Rules []Rule

// Check returns nil when c may access path, else an error wrapping
// ErrInsufficientScope.
func (rs Rules) Check(path string, c *Claims) error {
	var best *Rule
	for i := range rs {
		r := &rs[i]
		if strings.HasPrefix(path, r.PathPrefix) && (best == nil || len(r.PathPrefix) > len(best.PathPrefix)) {
			best = r
		}
	}
	if best == nil || best.allows(c) {
		return nil
	}
	return fmt.Errorf("%w: not allowed under %s", ErrInsufficientScope, best.PathPrefix)
}

func (r *Rule) allows(c *Claims) bool {
	if len(r.Emails) == 0 && len(r.Domains) == 0 && len(r.Groups) == 0 {
		return true
	}
	if c == nil {
		return false
	}
	emailOK := c.Email != ""
	if ev, present := c.Raw["email_verified"]; present && ev != true && ev != "true" {
		emailOK = false
	}
	if emailOK {
		for _, e := range r.Emails {
			if strings.EqualFold(e, c.Email) {
				return true
			}
		}
		if at := strings.LastIndexByte(c.Email, '@'); at >= 0 {
			domain := c.Email[at+1:]
			for _, d := range r.Domains {
				if strings.EqualFold(strings.TrimPrefix(d, "@"), domain) {
					return true
				}
			}
		}
	}
	for _, g := range r.Groups {
		for _, have := range c.Groups {
			if g == have {
				return true
			}
		}
	}
	return false
}

// Route is a method and path pattern, written "GET /static/" or "/healthz".
// A path ending in "/" matches every path under it, others match exactly; an
// empty method matches every method.
type Route struct {
	Method string
	Path   string
}

// ParseRoute parses "METHOD /path" or "/path".
func ParseRoute(s string) (Route, error) {
	f := strings.Fields(s)
	switch {
	case len(f) == 1 && strings.HasPrefix(f[0], "/"):
		return Route{Path: f[0]}, nil
	case len(f) == 2 && strings.HasPrefix(f[1], "/") && !strings.Contains(f[0], "/"):
		return Route{Method: strings.ToUpper(f[0]), Path: f[1]}, nil
	}
	return Route{}, fmt.Errorf("verify: route %q: want \"METHOD /path\" or \"/path\"", s)
}

// Match reports whether r is covered by the route.
func (rt Route) Match(r *http.Request) bool {
	if rt.Method != "" && rt.Method != r.Method && !(rt.Method == http.MethodGet && r.Method == http.MethodHead) {
		return false
	}
	p := r.URL.Path
	if strings.HasSuffix(rt.Path, "/") {
		return strings.HasPrefix(p, rt.Path)
	}
	return p == rt.Path
}

// MiddlewareOptions configures Verifier.Middleware.
type MiddlewareOptions struct {
	// Rules are checked against the validated claims (403 when not met).
	Rules Rules
	// Skip lists routes served without any token check.
	Skip []Route
	// Optional lets requests without a token through (no claims in the
	// context); a token that is present must still be valid.
	Optional bool
	// DPoP, when set, also accepts DPoP-bound tokens with a proof of their
	// key (see DPoPOptions). Bearer tokens keep working; a token with
	// cnf.jkt sent as a bearer is refused either way (ErrBoundToken).
	DPoP *DPoPOptions
}

// Middleware returns an http middleware that requires a valid bearer token
// (or, with opts.DPoP, a DPoP-bound token and its proof) on every request
// (except opts.Skip routes), answers failures per RFC 6750 and RFC 9449
// with JSON bodies (never a redirect) and stores the claims in the request
// context (ClaimsFromContext). It panics when opts.DPoP lacks Proofs or
// Origin.
func (v *Verifier) Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	dp := opts.DPoP
	also := ""
	if dp != nil {
		if dp.Proofs == nil || dp.Origin == "" {
			panic("verify: MiddlewareOptions.DPoP needs Proofs and Origin")
		}
		also = dp.challenge()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, s := range opts.Skip {
				if s.Match(r) {
					next.ServeHTTP(w, r)
					return
				}
			}
			var id Identity
			var proof *dpop.Proof
			var err error
			bound := dp != nil && dpop.HasScheme(r)
			if bound {
				id, proof, err = dp.authenticate(v, r)
			} else {
				id, err = v.Authenticate(r)
			}
			if errors.Is(err, ErrNoToken) && opts.Optional {
				next.ServeHTTP(w, r)
				return
			}
			if err == nil {
				err = opts.Rules.Check(r.URL.Path, id.Claims)
			}
			switch {
			case err != nil && bound:
				dp.writeError(w, v.cfg.Realm, err)
				return
			case err != nil:
				writeError(w, v.cfg.Realm, err, also, "")
				return
			case bound:
				dp.Proofs.RenewNonce(w, proof)
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), id.Claims)))
		})
	}
}
