package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
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
