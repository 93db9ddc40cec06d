package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/verify"
)

// WebSocket close codes the proxy sends.
const (
	// CloseGoingAway (1001): the server is shutting down.
	CloseGoingAway = 1001
	// CloseCredentialsEnded (4401, after HTTP 401): the token expired or
	// the session ended; authenticate again and reconnect.
	CloseCredentialsEnded = 4401
)

// closeGrace is how long a closed connection waits for the client's close
// frame before the TCP connection is cut.
const closeGrace = 2 * time.Second

// serveWebSocket authenticates an upgrade (see the package comment), forwards
// it and watches the credentials for as long as the connection is open.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request) {
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
	token, terr := verify.TokenFromRequest(r)
	if errors.Is(terr, verify.ErrNoToken) && tokenProto != "" {
		if len(rest) == 0 {
			// Browsers fail a handshake whose offered subprotocols get no
			// answer, and the token protocol is never echoed.
			verify.WriteError(w, p.cfg.Realm, fmt.Errorf("%w: the token subprotocol needs a second subprotocol", verify.ErrInvalidRequest))
			return
		}
		token, terr = decodeTokenProtocol(tokenProto)
	}
	if errors.Is(terr, verify.ErrNoToken) && !p.origins[r.Header.Get("Origin")] {
		// Cookies travel with cross-site upgrades: the session counts only
		// from our own pages.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, `{"error":"forbidden","error_description":"WebSocket origin not allowed"}`)
		return
	}
	id, err := p.authenticate(r, token, terr)
	if answer.StoreUnavailable(w, err) {
		return
	}
	if err == nil {
		err = p.check(r, id)
	}
	if err != nil {
		verify.WriteError(w, p.cfg.Realm, err)
		return
	}
	if tokenProto != "" {
		r.Header.Set("Sec-WebSocket-Protocol", strings.Join(rest, ", "))
	}
	ww := &hijackWatcher{ResponseWriter: w, p: p, id: id}
	done := make(chan struct{})
	stopped := make(chan struct{})
	// An open connection ends when its credentials end, when either side
	// closes it, or by CloseWebSockets, which sends a close frame first;
	// never by a cancelled server context, which would cut it.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	go func() {
		defer close(stopped)
		p.watch(r.Context(), ww, id, done)
	}()
	p.forward(ww, r, id)
	close(done)
	<-stopped
	ww.release()
}

// watch closes the connection when its credentials end: at the bearer's
// expiry, or when a re-check of its session finds it ended.
func (p *Proxy) watch(ctx context.Context, ww *hijackWatcher, id verify.Identity, done <-chan struct{}) {
	var tokenEnd, sessionEnd time.Time
	switch id.Source {
	case verify.SourceBearer:
		tokenEnd = id.Claims.Expiry
	case verify.SourceSession:
		sessionEnd = id.Claims.Expiry
	}
	for {
		var wait time.Duration
		switch {
		case id.SessionKey != "":
			wait = p.cfg.SessionRecheck
			if !sessionEnd.IsZero() {
				wait = min(wait, time.Until(sessionEnd))
			}
			if !tokenEnd.IsZero() {
				wait = min(wait, time.Until(tokenEnd))
			}
		case tokenEnd.IsZero():
			return // a bearer without expiry and without a session: nothing to watch
		default:
			wait = time.Until(tokenEnd)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-done:
			t.Stop()
			return
		case <-t.C:
		}
		if !tokenEnd.IsZero() && !time.Now().Before(tokenEnd) {
			ww.close(CloseCredentialsEnded, "token expired")
			return
		}
		if id.SessionKey == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, ok := p.cfg.Sessions.Recheck(rctx, id)
		cancel()
		if !ok || !live(s) {
			ww.close(CloseCredentialsEnded, "session ended")
			return
		}
		sessionEnd = s.Claims.Expiry
	}
}

// CloseSession closes every open WebSocket of the session named key (an
// Identity.SessionKey) with CloseCredentialsEnded: the server calls it when
// the session ends (logout, a refresh token the provider refused).
func (p *Proxy) CloseSession(key string) {
	if key == "" {
		return
	}
	for _, c := range p.sockets.list(key) {
		c.close(CloseCredentialsEnded, "session ended")
	}
}

// CloseWebSockets sends every open WebSocket a close frame with code and
// reason and then closes it; it returns at once. Servers call it when they
// shut down, with CloseGoingAway: http.Server.Shutdown does not close
// hijacked connections.
func (p *Proxy) CloseWebSockets(code int, reason string) {
	for _, c := range p.sockets.list("") {
		c.close(code, reason)
	}
}

// sockets is the set of open WebSockets.
type sockets struct {
	mu   sync.Mutex
	open map[*wsConn]struct{}
}

// list returns the open connections of session key ("" for all).
func (s *sockets) list(key string) []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*wsConn
	for c := range s.open {
		if key == "" || c.session == key {
			out = append(out, c)
		}
	}
	return out
}

// hijackWatcher hands ReverseProxy a wsConn when it hijacks the client
// connection for an upgrade, so the connection can be closed from outside.
type hijackWatcher struct {
	http.ResponseWriter
	p  *Proxy
	id verify.Identity

	mu     sync.Mutex
	conn   *wsConn
	closed bool // closed before the hijack
}

// Hijack implements http.Hijacker.
func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	ws := &wsConn{Conn: c, session: h.id.SessionKey}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = ws
	if h.closed {
		c.Close()
		return ws, brw, nil
	}
	h.p.sockets.mu.Lock()
	h.p.sockets.open[ws] = struct{}{}
	h.p.sockets.mu.Unlock()
	return ws, brw, nil
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (h *hijackWatcher) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijackWatcher) close(code int, reason string) {
	h.mu.Lock()
	c := h.conn
	h.closed = true
	h.mu.Unlock()
	if c != nil {
		c.close(code, reason)
	}
}

// release forgets the connection once the proxying ended.
func (h *hijackWatcher) release() {
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c == nil {
		return
	}
	h.p.sockets.mu.Lock()
	delete(h.p.sockets.open, c)
	h.p.sockets.mu.Unlock()
}

// wsConn is the client side of a proxied WebSocket. It follows the frames
// the upstream sends through it, so that a close frame of its own can be
// put between two frames, never inside one.
type wsConn struct {
	net.Conn
	session string

	once    sync.Once  // one close
	mu      sync.Mutex // serialises writes
	frames  frameTracker
	closing []byte // the close frame to send, once requested
	sent    bool   // the close frame is out: drop what follows
}

// Write forwards the upstream's bytes; once a close is requested it
// finishes the current frame, sends the close frame and drops the rest.
func (c *wsConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent {
		return len(b), nil
	}
	if c.closing == nil {
		n, err := c.Conn.Write(b)
		c.frames.consume(b[:n], false)
		return n, err
	}
	k := c.frames.consume(b, true)
	n, err := c.Conn.Write(b[:k])
	if err != nil || n < k {
		return n, err
	}
	if c.frames.boundary() {
		c.sendClose() // and drop the rest of b
	}
	return len(b), nil
}

// close sends a close frame with code and reason at the next frame boundary
// and cuts the connection closeGrace later, whatever the client does. It
// does not wait: a client that reads slowly delays only its own close.
func (c *wsConn) close(code int, reason string) {
	c.once.Do(func() {
		if len(reason) > 123 {
			reason = reason[:123]
		}
		frame := make([]byte, 4, 4+len(reason))
		frame[0], frame[1] = 0x88, byte(2+len(reason)) // FIN + close; unmasked
		binary.BigEndian.PutUint16(frame[2:], uint16(code))
		frame = append(frame, reason...)
		time.AfterFunc(closeGrace, func() { c.Conn.Close() })
		go func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.closing = frame
			if c.frames.boundary() {
				c.sendClose()
			}
		}()
	})
}

// sendClose writes the close frame (c.mu held).
func (c *wsConn) sendClose() {
	c.sent = true
	if _, err := c.Conn.Write(c.closing); err != nil {
		c.Conn.Close()
	}
}

// frameTracker follows WebSocket frame boundaries in a byte stream (RFC 6455
// §5.2).
type frameTracker struct {
	hdr  [14]byte
	nhdr int    // header bytes seen of the current frame
	left uint64 // payload bytes left in the current frame
}

func (t *frameTracker) boundary() bool { return t.nhdr == 0 && t.left == 0 }

// consume follows b and returns how many of its bytes it took: all of
// them, or with stop the bytes up to the first frame boundary.
func (t *frameTracker) consume(b []byte, stop bool) int {
	i := 0
	for i < len(b) {
		if stop && t.boundary() {
			return i
		}
		if t.left > 0 {
			n := min(uint64(len(b)-i), t.left)
			t.left -= n
			i += int(n)
			continue
		}
		t.hdr[t.nhdr] = b[i]
		t.nhdr++
		i++
		if t.nhdr < 2 {
			continue
		}
		need, l7 := 2, t.hdr[1]&0x7f
		switch l7 {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if t.hdr[1]&0x80 != 0 {
			need += 4 // masking key
		}
		if t.nhdr < need {
			continue
		}
		switch l7 {
		case 126:
			t.left = uint64(binary.BigEndian.Uint16(t.hdr[2:4]))
		case 127:
			t.left = binary.BigEndian.Uint64(t.hdr[2:10])
		default:
			t.left = uint64(l7)
		}
		t.nhdr = 0
	}
	return i
}
