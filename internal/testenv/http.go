package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// WaitHTTP polls u until it answers with status, failing the test after
// timeout.
func WaitHTTP(t testing.TB, u string, status int, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(u)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %v (last: %s)", u, status, timeout, last)
}

// NewClient returns an HTTP client with its own cookie jar, as a browser
// would be, and a timeout.
func NewClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as an address (127.0.0.1:port), for programs that
// take their address on the command line.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// CountPath returns middleware that adds one to n for every request whose
// path is path, then serves it with the wrapped handler: how tests count the
// calls a provider receives at one endpoint (its token or introspection
// endpoint).
func CountPath(path string, n *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				n.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
}
