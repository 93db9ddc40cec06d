package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// key marks the values a request's context should carry.
type key struct{}

// stage tells a test handler where the test is.
type stage struct {
	started      chan struct{} // the handler closes it once it runs
	shuttingDown chan struct{} // closed when the server starts shutting down
	testEnds     chan struct{} // closed when the test case ends
}

// brokenListener fails to accept anything.
type brokenListener struct{ net.Listener }

var errBroken = errors.New("listener broke")

func (brokenListener) Accept() (net.Conn, error) { return nil, errBroken }

// TestServe starts a server with Serve, sends it one request, ends Serve's
// context while the request runs, and checks what the client reads before
// the server closes the connection and what Serve returns.
func TestServe(t *testing.T) {
	tests := []struct {
		name    string
		grace   time.Duration
		base    func(net.Listener) context.Context // hs.BaseContext before Serve
		broken  bool                               // the listener fails at once
		ended   bool                               // ctx ends before Serve is called
		handler func(s stage) http.HandlerFunc     // nil: no request is sent
		want    string                             // the end of what the client reads; "" = nothing
		wantErr error
	}{
		{name: "a request in flight finishes within the grace", grace: time.Minute,
			handler: func(s stage) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					close(s.started)
					<-s.shuttingDown
					fmt.Fprint(w, "done with ", r.Context().Value(key{}))
				}
			},
			want: "\r\n\r\ndone with Serve's ctx"},
		{name: "a request still running after the grace is cut", grace: 50 * time.Millisecond,
			handler: func(s stage) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					close(s.started)
					<-s.testEnds // ignores its context
				}
			},
			want: ""},
		{name: "a hijacked connection is told through its context", grace: time.Minute,
			handler: hijack, want: "\r\n\r\nbye from Serve's ctx"},
		{name: "a hijacked connection is told, with a BaseContext of the caller", grace: time.Minute,
			base: func(net.Listener) context.Context {
				return context.WithValue(context.Background(), key{}, "the caller's base")
			},
			handler: hijack, want: "\r\n\r\nbye from the caller's base"},
		{name: "a listener error is returned", grace: time.Minute, broken: true, wantErr: errBroken},
		{name: "a context ended before Serve stops it at once", grace: time.Minute, ended: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := stage{started: make(chan struct{}), shuttingDown: make(chan struct{}), testEnds: make(chan struct{})}
			defer close(s.testEnds)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.broken {
				ln = brokenListener{ln}
			}
			hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, BaseContext: tc.base}
			if tc.handler != nil {
				hs.Handler = tc.handler(s)
			}
			hs.RegisterOnShutdown(func() { close(s.shuttingDown) })
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "Serve's ctx"))
			defer cancel()
			if tc.ended {
				cancel()
			}
			served := make(chan error, 1)
			go func() { served <- Serve(ctx, hs, ln, tc.grace) }()

			if tc.handler != nil {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
				wait(t, s.started, "the handler to start")
				cancel()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("the server did not close the connection: %v (read %q)", err, b)
				}
				if !strings.HasSuffix(string(b), tc.want) || tc.want == "" && len(b) > 0 {
					t.Errorf("the client read %q, want it to end in %q", b, tc.want)
				}
			}
			select {
			case err := <-served:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Serve returned %v, want %v", err, tc.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
				t.Error("the listener still accepts connections after Serve returned")
			}
		})
	}
}

// hijack takes the connection over, answers 101 and, once the request's
// context ends, says goodbye with the context's value and closes it.
func hijack(s stage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		buf.Flush()
		close(s.started)
		<-r.Context().Done()
		fmt.Fprint(c, "bye from ", r.Context().Value(key{}))
	}
}

// wait fails the test when ch is not closed in time.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
