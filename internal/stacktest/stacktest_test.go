package stacktest_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tokenhook/tokenhook/internal/stacktest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server"
)

// TestSessionSurvivesRestart: a viewer signed in over HTTP gets the
// provider's token for tokenhook's client; while tokenhook is stopped
// nothing answers at its URL, and after Restart the same cookie jar still
// holds a session.
func TestSessionSurvivesRestart(t *testing.T) {
	s := stacktest.New(t, stacktest.Options{})
	s.Serve("")
	c := testenv.NewClient()
	s.SignIn(c)
	s.CheckBearer("Bearer "+s.Token(c), nil)

	s.Stop()
	if resp, err := c.Get(s.URL + server.Prefix + "readyz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a stopped tokenhook answered %d", resp.StatusCode)
	}
	s.Restart()
	s.CheckBearer("Bearer "+s.Token(c), nil)
}

// TestHandler: with Options.Handler the listener serves the test's handler,
// tokenhook mounted in it beside a backend on the same origin.
func TestHandler(t *testing.T) {
	s := stacktest.New(t, stacktest.Options{Handler: func(tokenhook http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle(server.Prefix, tokenhook)
		mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend") })
		return mux
	}})
	s.Serve("")
	c := testenv.NewClient()
	resp, err := c.Get(s.URL + "/app")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "backend" {
		t.Fatalf("GET /app answered %d %q, want the backend's page", resp.StatusCode, body)
	}
	s.SignIn(c)
	s.CheckBearer("Bearer "+s.Token(c), nil)
}

// TestConnectClient: a configured connection links over HTTP for a signed-in
// viewer; an unknown one does not.
func TestConnectClient(t *testing.T) {
	s := stacktest.New(t, stacktest.Options{Connections: []stacktest.Connection{{Name: "data", ClientID: "data-platform"}}})
	s.Serve("")
	c := testenv.NewClient()
	s.SignIn(c)
	s.ConnectClient(c, "data")

	resp, err := c.Get(s.URL + server.Prefix + "connect/nosuch?rd=%2F")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("connect/nosuch answered %d, want a client error", resp.StatusCode)
	}
}
