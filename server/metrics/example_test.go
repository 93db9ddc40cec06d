package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/tokenhook/tokenhook/server/metrics"
	"github.com/tokenhook/tokenhook/server/verify"
)

// Count a proxied request and its bearer validation, then scrape.
func Example() {
	m := metrics.New()
	m.Request(metrics.RouteProxy, 200)
	m.Bearer(verify.OutcomeValidCached)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, `tokenhook_requests_total{code="2xx",route="proxy"}`) ||
			strings.HasPrefix(line, `tokenhook_bearer_validations_total{outcome="valid_cached"}`) {
			fmt.Print(line)
		}
	}
	// Output:
	// tokenhook_bearer_validations_total{outcome="valid_cached"} 1
	// tokenhook_requests_total{code="2xx",route="proxy"} 1
}
