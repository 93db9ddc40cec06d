// Package credentials_test runs the viewer-credentials helpers against a real
// tokenhook with a real connection (a second client at the real provider):
// the tokenhook Python package (examples/python) and the R helper
// (tokenhook_credentials.R, with Debian's r-cran-curl) trade the assertion an
// app received through the proxy for the viewer's connection token.
package credentials_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// app is an upstream that remembers the last assertion tokenhook forwarded.
func app(t *testing.T) (*httptest.Server, func() string) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-got:
		default:
		}
		got <- r.Header.Get("X-TokenHook-Session")
		w.Write([]byte("report"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() string {
		t.Helper()
		select {
		case a := <-got:
			if a == "" {
				t.Fatal("the app received no X-TokenHook-Session")
			}
			return a
		default:
			t.Fatal("the app received no request")
			return ""
		}
	}
}

// visit requests a page through tokenhook with the viewer's client.
func visit(t *testing.T, c *http.Client, u string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page through tokenhook: %d", resp.StatusCode)
	}
}

// pyExchange calls tokenhook.get_user_token with the assertion as the
// request's headers and prints the token, or the error's class, code and
// connect URL.
const pyExchange = `
import os, sys, tokenhook
try:
    print("token", tokenhook.get_user_token(sys.argv[1], {"X-TokenHook-Session": os.environ["ASSERTION"]}))
except tokenhook.ConnectionRequired as e:
    print("ConnectionRequired", e.error, e.connect_url)
except tokenhook.TokenHookError as e:
    print("TokenHookError", e.error, e)
`

// rExchange calls the R helper with a Shiny-like session holding the
// assertion and prints the token or the error message.
const rExchange = `
source("tokenhook_credentials.R")
session <- list(request = list(HTTP_X_TOKENHOOK_SESSION = Sys.getenv("ASSERTION")))
out <- tryCatch(paste("token", get_user_token(session, commandArgs(TRUE)[1])),
                error = function(e) paste("error", conditionMessage(e)))
cat(out, "\n")
`

func TestCredentialHelpers(t *testing.T) {
	py := exampletest.VenvPython(t)
	rOut, rErr := exec.Command("Rscript", "-e", "library(curl); library(jsonlite)").CombinedOutput()
	if rErr != nil {
		rErr = fmt.Errorf("%v: %s", rErr, strings.TrimSpace(string(rOut)))
	}
	e := exampletest.NewWith(t, exampletest.Options{Connection: true})
	upstream, lastAssertion := app(t)
	e.Serve(upstream.URL)
	c := testenv.NewClient()
	e.SignIn(c)

	helpers := []struct {
		name string
		// required starts the helper's answer for an unlinked connection.
		required string
		run      func(t *testing.T, assertion, connection, secret string) string
	}{
		{"python package", "ConnectionRequired invalid_target " + e.URL, func(t *testing.T, assertion, connection, secret string) string {
			cmd := exec.Command(py, "-c", pyExchange, connection)
			cmd.Env = append(e.PythonEnv(upstream.URL), "ASSERTION="+assertion, "TOKENHOOK_EXCHANGE_SECRET="+secret)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			return strings.TrimSpace(string(out))
		}},
		{"R helper", "error connect data first: " + e.URL, func(t *testing.T, assertion, connection, secret string) string {
			testenv.Need(t, "R with curl and jsonlite (Debian r-cran-curl)", rErr)
			cmd := exec.Command("Rscript", "-e", rExchange, connection)
			cmd.Env = []string{"ASSERTION=" + assertion, "TOKENHOOK_URL=" + e.URL, "TOKENHOOK_EXCHANGE_SECRET=" + secret, "PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("Rscript: %v\n%s", err, out)
			}
			return strings.TrimSpace(string(out))
		}},
	}

	visit(t, c, e.URL+"/before-linking")
	before := lastAssertion()
	connectURL := e.URL + "/_tokenhook/connect/" + exampletest.Connection
	for _, h := range helpers {
		t.Run(h.name+": before linking, the connect URL", func(t *testing.T) {
			out := h.run(t, before, exampletest.Connection, e.ExchangeSecret)
			if !strings.HasPrefix(out, h.required) || !strings.Contains(out, connectURL) {
				t.Errorf("got %q, want %q… naming %s", out, h.required, connectURL)
			}
		})
	}

	e.ConnectClient(c, exampletest.Connection)
	visit(t, c, e.URL+"/report")
	linked := lastAssertion()
	for _, h := range helpers {
		t.Run(h.name+": after linking, the connection's token", func(t *testing.T) {
			out := h.run(t, linked, exampletest.Connection, e.ExchangeSecret)
			tok, ok := strings.CutPrefix(out, "token ")
			if !ok {
				t.Fatalf("got %q, want a token", out)
			}
			e.CheckConnectionToken(tok)
		})
		t.Run(h.name+": a wrong exchange secret", func(t *testing.T) {
			if out := h.run(t, linked, exampletest.Connection, "wrong"); !strings.Contains(out, "invalid_client") {
				t.Errorf("got %q, want invalid_client", out)
			}
		})
		t.Run(h.name+": an unknown connection", func(t *testing.T) {
			if out := h.run(t, linked, "nosuch", e.ExchangeSecret); !strings.Contains(out, "invalid_target") {
				t.Errorf("got %q, want invalid_target", out)
			}
		})
	}
}
