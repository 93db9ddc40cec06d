package answer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/server/session"
)

func TestStoreUnavailable(t *testing.T) {
	down := &session.UnavailableError{Store: "redis", Op: "load", Err: errors.New("dial tcp 10.0.0.7:6379: connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"store down", down, true},
		{"wrapped", fmt.Errorf("load session: %w", down), true},
		{"other error", errors.New("boom"), false},
		{"no error", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if got := StoreUnavailable(rec, tc.err); got != tc.want {
				t.Fatalf("StoreUnavailable = %v, want %v", got, tc.want)
			}
			if !tc.want {
				if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
					t.Fatalf("wrote an answer for %v: %d %v", tc.err, rec.Code, rec.Header())
				}
				return
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			h := rec.Header()
			if rec.Code != 503 || body["error"] != "temporarily_unavailable" || !strings.Contains(body["error_description"], "(redis)") ||
				h.Get("Retry-After") != "1" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
				t.Fatalf("answer %d %v %v", rec.Code, h, body)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the answer names the store's address: %s", rec.Body.String())
			}
		})
	}
}
