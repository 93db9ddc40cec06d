// Command plain is the upstream of the plain-page example: it serves a static
// page (static/) that sends fetch and XMLHttpRequest POSTs, and an echo API
// that answers with what tokenhook forwarded: whether a bearer token arrived
// and the identity headers. Run it behind `tokenhook serve --upstream`; it
// trusts the identity headers, so it listens on loopback only by default.
//
//	go run ./examples/plain --addr 127.0.0.1:8000
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/graceful"
)

//go:embed static
var static embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fset := flag.NewFlagSet("plain", flag.ExitOnError)
	addr := fset.String("addr", "127.0.0.1:8000", "listen address (keep it private: only tokenhook may reach it)")
	fset.Parse(os.Args[1:])
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: newHandler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	slog.Info("plain example app listening", "url", "http://"+ln.Addr().String())
	return graceful.Serve(ctx, hs, ln, 5*time.Second)
}

// newHandler serves the static page and the echo API.
func newHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(sub))
	mux.HandleFunc("POST /api/echo", echo)
	return mux
}

// echoAnswer is what the page shows: how the request arrived. It never
// contains the token itself.
type echoAnswer struct {
	Via       string            `json:"via"`
	Method    string            `json:"method"`
	Bearer    string            `json:"bearer"`
	Forwarded map[string]string `json:"forwarded"`
}

// identityHeaders are the headers tokenhook sets on forwarded requests.
var identityHeaders = []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups"}

func echo(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Via string `json:"via"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		http.Error(w, "want a JSON body", http.StatusBadRequest)
		return
	}
	a := echoAnswer{Via: in.Via, Method: r.Method, Bearer: "none", Forwarded: map[string]string{}}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		a.Bearer = fmt.Sprintf("present (%d characters, validated by tokenhook)", len(tok))
	}
	for _, h := range identityHeaders {
		a.Forwarded[h] = r.Header.Get(h)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(a)
}
