package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/page"
	"github.com/tokenhook/tokenhook/server/ratelimit"
)

// newSignInLimiter limits unauthenticated sign-in steps per client address:
// a burst of 30, then one a second, remembering up to 2×50,000 addresses.
// A viewer's sign-in takes three steps (login, callback, confirm) and its
// frame one claim per 25 s.
func newSignInLimiter() *ratelimit.Limiter { return ratelimit.New(time.Second, 30, 50000) }

// limited lets h answer only requests within l's limit for their client
// address; others get 429 with Retry-After, as a page (asPage, for
// navigations) or as a JSON error. One address's refusals never touch
// another's.
func (s *Server) limited(l *ratelimit.Limiter, asPage bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok, retry := l.Allow(s.cfg.TrustedProxies.Client(r), s.now())
		if ok {
			h(w, r)
			return
		}
		secs := strconv.Itoa(int(math.Ceil(retry.Seconds())))
		w.Header().Set("Retry-After", secs)
		w.Header().Set("Cache-Control", "no-store")
		msg := fmt.Sprintf("Too many sign-in attempts from your network. Try again in %s seconds.", secs)
		if asPage {
			page.Notice(w, http.StatusTooManyRequests, "Too many sign-in attempts", msg, "", "")
			return
		}
		answer.Error(w, http.StatusTooManyRequests, "rate_limited", msg)
	}
}
