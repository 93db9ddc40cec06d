package token_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/token"
)

// A request without a session is told where to sign in.
func ExampleEndpoint() {
	e := &token.Endpoint{
		Session: func(*http.Request) (*session.Session, string, error) { return nil, "", broker.ErrLoginRequired },
		SignOut: func(http.ResponseWriter) {},
		Mode:    "bearer", LoginPath: "/_tokenhook/login",
	}
	r := httptest.NewRequest("GET", "/_tokenhook/token", nil)
	r.Header.Set("X-TokenHook", "1")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	// Output: 401 {"error":"login_required","error_description":"sign in at /_tokenhook/login"}
}
