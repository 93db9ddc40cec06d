package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// streamUpstream accepts WebSockets and sends 40 KB binary messages as fast
// as the client takes them, so a close frame can only land between frames if
// the proxy follows the frames.
func streamUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		go func() { // answer the client's close frame
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		msg := bytes.Repeat([]byte("0123456789"), 4<<10)
		for {
			if err := ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// readUntilClosed reads messages and returns the close status the
// connection ended with (-1 for no close frame).
func readUntilClosed(t *testing.T, ws *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, msg, err := ws.Read(ctx)
		if err == nil {
			if len(msg) != 40<<10 {
				t.Fatalf("message of %d bytes: frames were cut", len(msg))
			}
			continue
		}
		if ctx.Err() != nil {
			t.Error("still open")
			return -1, ""
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		t.Logf("ended without a close frame: %v", err)
		return -1, ""
	}
}

// readAll reads every connection at once (as their clients would) and
// checks the close status each ended with.
func readAll(t *testing.T, code websocket.StatusCode, reason string, conns ...*websocket.Conn) {
	t.Helper()
	type status struct {
		code   websocket.StatusCode
		reason string
	}
	got := make(chan status, len(conns))
	for _, ws := range conns {
		go func() {
			c, r := readUntilClosed(t, ws)
			got <- status{c, r}
		}()
	}
	for range conns {
		if s := <-got; s.code != code || s.reason != reason {
			t.Errorf("closed with %d %q, want %d %q", s.code, s.reason, code, reason)
		}
	}
}

// TestCloseWebSockets: CloseWebSockets and CloseSession send a real close
// frame (code and reason) between two of the upstream's frames, also while
// the upstream streams; CloseSession closes only that session's sockets.
func TestCloseWebSockets(t *testing.T) {
	is := newIssuer(t)
	up := streamUpstream(t)
	front := httptest.NewServer(nil)
	defer front.Close()
	p := newProxy(t, Config{Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Sessions: sessionFromCookie, PublicOrigin: front.URL})
	front.Config.Handler = p
	u := "ws" + strings.TrimPrefix(front.URL, "http") + "/stream"
	open := func(t *testing.T, h http.Header) *websocket.Conn {
		t.Helper()
		ws, _, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { ws.CloseNow() })
		if _, msg, err := ws.Read(t.Context()); err != nil || len(msg) != 40<<10 {
			t.Fatalf("first message: %d bytes, %v", len(msg), err)
		}
		return ws
	}
	session := http.Header{"Origin": {front.URL}, "Cookie": {"th_session=ok"}}
	bearer := http.Header{"Authorization": {"Bearer " + is.token(t, time.Hour)}}

	t.Run("CloseSession", func(t *testing.T) {
		s1, s2, b := open(t, session), open(t, session), open(t, bearer)
		p.CloseSession("another-key")
		p.CloseSession("key-ok")
		readAll(t, CloseCredentialsEnded, "session ended", s1, s2)
		if _, msg, err := b.Read(t.Context()); err != nil || len(msg) != 40<<10 {
			t.Fatalf("the bearer connection was closed too: %v", err)
		}
	})
	t.Run("CloseWebSockets", func(t *testing.T) {
		a, b := open(t, session), open(t, bearer)
		p.CloseWebSockets(CloseGoingAway, "server shutting down")
		readAll(t, CloseGoingAway, "server shutting down", a, b)
	})
	t.Run("no sockets left", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for len(p.sockets.list("")) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d sockets still tracked", len(p.sockets.list("")))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestFrameTracker: frame boundaries are found whatever the chunking, for
// the three length encodings and masked frames.
func TestFrameTracker(t *testing.T) {
	frame := func(n int, masked bool) []byte {
		var h []byte
		mask := byte(0)
		if masked {
			mask = 0x80
		}
		switch {
		case n < 126:
			h = []byte{0x82, mask | byte(n)}
		case n < 1<<16:
			h = []byte{0x82, mask | 126, 0, 0}
			binary.BigEndian.PutUint16(h[2:], uint16(n))
		default:
			h = make([]byte, 10)
			h[0], h[1] = 0x82, mask|127
			binary.BigEndian.PutUint64(h[2:], uint64(n))
		}
		if masked {
			h = append(h, 1, 2, 3, 4)
		}
		return append(h, make([]byte, n)...)
	}
	var stream []byte
	var ends []int // offsets just after each frame
	for _, f := range [][]byte{frame(0, false), frame(5, true), frame(125, false), frame(126, false), frame(70000, true), frame(1, false)} {
		stream = append(stream, f...)
		ends = append(ends, len(stream))
	}
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		var tr frameTracker
		var found []int
		for off := 0; off < len(stream); {
			if tr.boundary() {
				off += tr.consume(stream[off:off+1], false) // the next frame's first byte
				continue
			}
			end := min(off+chunk, len(stream))
			// With stop, consume ends at the first boundary it reaches.
			off += tr.consume(stream[off:end], true)
			if tr.boundary() {
				found = append(found, off)
			}
		}
		if len(found) != len(ends) {
			t.Fatalf("chunk %d: boundaries %v, want %v", chunk, found, ends)
		}
		for i := range ends {
			if found[i] != ends[i] {
				t.Fatalf("chunk %d: boundaries %v, want %v", chunk, found, ends)
			}
		}
	}
}
