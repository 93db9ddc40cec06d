package demo

import (
	_ "embed"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/verify"
)

//go:embed page.html
var pageHTML []byte

//go:embed portal.html
var portalHTML []byte

// App is the demo dashboard: a page and an API. The API validates the bearer
// token itself with the server/verify middleware, as a Go backend would
// (step 3), even though tokenhook's proxy in front has validated it too.
func App(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(pageHTML)
	})
	mux.Handle("POST /api/echo", v.Middleware(verify.MiddlewareOptions{})(http.HandlerFunc(echo)))
	return mux
}

// echoAnswer is what the demo API answers: proof that the request arrived
// with a validated bearer token.
type echoAnswer struct {
	Subject        string    `json:"subject"`
	Email          string    `json:"email,omitempty"`
	Header         string    `json:"header"`
	Scheme         string    `json:"scheme"`
	TokenExpiresAt int64     `json:"token_expires_at"`
	ForwardedEmail string    `json:"forwarded_email,omitempty"`
	ValidatedBy    string    `json:"validated_by"`
	Received       string    `json:"received"`
	Time           time.Time `json:"time"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, _ := verify.ClaimsFromContext(r.Context())
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	a := echoAnswer{
		Subject: c.Subject, Email: c.Email, Header: "Authorization", Scheme: scheme,
		TokenExpiresAt: c.Expiry.Unix(), ForwardedEmail: r.Header.Get("X-Forwarded-Email"),
		ValidatedBy: "server/verify middleware in the demo app (and tokenhook's proxy before it)",
		Received:    string(body), Time: time.Now().UTC(),
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(a)
}
