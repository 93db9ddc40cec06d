// Command go-backend is a small JSON API that validates the viewer's bearer
// token itself with tokenhook's Go middleware (package server/verify): no
// proxy needed in front of it. A dashboard page with tokenhook.js calls it
// directly, cross-origin, so it answers CORS preflights for one exact origin.
//
//	go run ./examples/go-backend --issuer http://127.0.0.1:5556/dex --audience examples \
//	    --allow-origin http://127.0.0.1:4180
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/graceful"
	"github.com/tokenhook/tokenhook/server/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "go-backend:", err)
		os.Exit(1)
	}
}

// run parses the flags, starts the API and serves until ctx ends.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("go-backend", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	issuer := fs.String("issuer", os.Getenv("OIDC_ISSUER"), "OpenID issuer whose access tokens are accepted (env OIDC_ISSUER)")
	audience := fs.String("audience", os.Getenv("OIDC_AUDIENCE"), "required token audience, usually the client id (env OIDC_AUDIENCE)")
	origin := fs.String("allow-origin", "", "the one page origin allowed to call the API cross-origin (exact, e.g. https://dash.example.com)")
	group := fs.String("orders-group", "analysts", "group whose members may POST /api/orders")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *issuer == "" || *audience == "" {
		return errors.New("--issuer and --audience are required")
	}
	v, err := verify.New(ctx, verify.Config{Issuer: *issuer, Audience: *audience})
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: newHandler(v, *origin, *group), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	slog.Info("go-backend listening", "url", "http://"+ln.Addr().String())
	return graceful.Serve(ctx, hs, ln, 5*time.Second)
}

// newHandler is the API: /healthz is open, everything under /api/ needs a
// valid bearer token, and /api/orders one of a member of ordersGroup.
// allowOrigin (exact match, may be empty) may call the API from a browser
// page on another origin.
func newHandler(v *verify.Verifier, allowOrigin, ordersGroup string) http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", me)
	api.HandleFunc("POST /api/orders", createOrder)
	requireToken := v.Middleware(verify.MiddlewareOptions{
		// Valid token, but not in the group: 403 insufficient_scope.
		Rules: verify.Rules{{PathPrefix: "/api/orders", Groups: []string{ordersGroup}}},
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/api/", requireToken(api))
	return cors(allowOrigin, mux)
}

// viewer is what the API tells about the token's owner.
type viewer struct {
	Subject   string    `json:"subject"`
	Email     string    `json:"email"`
	Groups    []string  `json:"groups"`
	ExpiresAt time.Time `json:"expires_at"`
}

func viewerOf(r *http.Request) (viewer, bool) {
	c, ok := verify.ClaimsFromContext(r.Context())
	if !ok || c == nil {
		return viewer{}, false
	}
	return viewer{Subject: c.Subject, Email: c.Email, Groups: c.Groups, ExpiresAt: c.Expiry}, true
}

// me answers who the token belongs to.
func me(w http.ResponseWriter, r *http.Request) {
	v, ok := viewerOf(r)
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// createOrder stands for any write the API does on behalf of the viewer.
func createOrder(w http.ResponseWriter, r *http.Request) {
	v, ok := viewerOf(r)
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	var in struct {
		Item string `json:"item"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil || strings.TrimSpace(in.Item) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"item": "…"}`})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"item": in.Item, "ordered_by": v.Email})
}

// cors lets exactly one origin call the API with an Authorization header.
func cors(allowOrigin string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); allowOrigin != "" && o == allowOrigin {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", o)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			// Let the page's script read the challenge after a 401.
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
