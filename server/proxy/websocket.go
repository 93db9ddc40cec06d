package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/server/verify"
)

// serveWebSocket authenticates an upgrade (see the package comment), forwards
// it and watches the credentials for as long as the connection is open.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	var (
		claims  *verify.Claims
		session bool
		err     error
	)
	token, herr := verify.TokenFromRequest(r)
	var protos, rest []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				protos = append(protos, s)
			}
		}
	}
	var tokenProto string
	for _, s := range protos {
		if strings.HasPrefix(s, WebSocketTokenPrefix) {
			if tokenProto != "" {
				verify.WriteError(w, p.cfg.Realm, fmt.Errorf("%w: several token subprotocols", verify.ErrInvalidRequest))
				return
			}
			tokenProto = s
		} else {
			rest = append(rest, s)
		}
	}
	switch {
	case herr == nil:
		claims, err = p.cfg.Verifier.Verify(r.Context(), token)
	case !errors.Is(herr, verify.ErrNoToken):
		err = herr
	case tokenProto != "":
		if len(rest) == 0 {
			// Browsers fail a handshake whose offered subprotocols get no
			// answer, and the token protocol is never echoed.
			err = fmt.Errorf("%w: the token subprotocol needs a second subprotocol", verify.ErrInvalidRequest)
			break
		}
		if token, err = decodeTokenProtocol(tokenProto); err == nil {
			claims, err = p.cfg.Verifier.Verify(r.Context(), token)
		}
	default:
		if !p.origins[r.Header.Get("Origin")] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, `{"error":"forbidden","error_description":"WebSocket origin not allowed"}`)
			return
		}
		var ok bool
		if claims, ok = p.session(r); !ok {
			err = verify.ErrNoToken
		}
		session = true
	}
	if err == nil {
		err = p.cfg.Rules.Check(r.URL.Path, claims)
	}
	if err != nil {
		verify.WriteError(w, p.cfg.Realm, err)
		return
	}
	if tokenProto != "" {
		r.Header.Set("Sec-WebSocket-Protocol", strings.Join(rest, ", "))
	}
	ww := &hijackWatcher{ResponseWriter: w}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.watch(r, ww, claims, session, done)
	}()
	p.forward(ww, r, claims)
	close(done)
	<-stopped
}

// watch closes the hijacked connection when the credentials end: at the
// bearer's expiry, or when a session re-check fails.
func (p *Proxy) watch(r *http.Request, ww *hijackWatcher, claims *verify.Claims, session bool, done <-chan struct{}) {
	deadline := claims.Expiry
	for {
		var wait time.Duration
		switch {
		case session:
			wait = p.cfg.SessionRecheck
			if !deadline.IsZero() {
				wait = min(wait, time.Until(deadline))
			}
		case deadline.IsZero():
			return // a bearer without expiry: nothing to watch
		default:
			wait = time.Until(deadline)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-done:
			t.Stop()
			return
		case <-t.C:
		}
		if !session {
			ww.kill()
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		c, ok := p.session(r.WithContext(ctx))
		cancel()
		if !ok {
			ww.kill()
			return
		}
		deadline = c.Expiry
	}
}

// hijackWatcher remembers the connection ReverseProxy hijacks for an upgrade
// so it can be closed from outside.
type hijackWatcher struct {
	http.ResponseWriter
	mu     sync.Mutex
	conn   net.Conn
	killed bool
}

// Hijack implements http.Hijacker.
func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = c
	if h.killed {
		c.Close()
	}
	return c, brw, nil
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (h *hijackWatcher) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijackWatcher) kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.killed = true
	if h.conn != nil {
		h.conn.Close()
	}
}
