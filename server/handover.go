package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/page"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// The iframe hand-over: a framed dashboard cannot show the provider's
// sign-in (it refuses framing), so the frame opens a popup, and collects the
// session the popup's sign-in made with a claim. See package rendezvous for
// the protocol and README.md ("Dashboards in iframes") for its threat model.

// defaultClaimWait is how long one claim request waits for the popup's
// sign-in to finish before answering "pending" (the iframe then asks again).
const defaultClaimWait = 25 * time.Second

// claimRequest is the body of POST /_tokenhook/claim.
type claimRequest struct {
	Channel string `json:"channel"`
	Secret  string `json:"secret"`
	// Code is the one-time code the sign-in window posted to the frame;
	// empty when the viewer confirms in the sign-in window instead.
	Code string `json:"code,omitempty"`
}

// errBadClaim is parseClaim's one error: the answer is the same for every
// malformed request.
var errBadClaim = errors.New(`send {"channel":…,"secret":…} as JSON, with "code" when the sign-in window sent one`)

// parseClaim reads a claim request body (at most 4 KiB is read by the
// caller): a JSON object with a valid channel, a secret of 32 to 256
// characters and, optionally, a one-time code.
func parseClaim(body []byte) (claimRequest, error) {
	var req claimRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return claimRequest{}, errBadClaim
	}
	if !validChannel(req.Channel) || len(req.Secret) < 32 || len(req.Secret) > 256 || req.Code != "" && !validCode(req.Code) {
		return claimRequest{}, errBadClaim
	}
	return req, nil
}

// validCode accepts a one-time hand-over code: 43 base64url characters.
func validCode(c string) bool { return len(c) == 43 && isBase64URL(c) }

// handleClaim is where an iframe collects a sign-in finished in a popup or in
// another browser window: POST {"channel","secret"[,"code"]}. On success the
// answer sets the embed session cookie in the iframe's own cookie
// partition, so later token requests (and refreshes) work without new
// popups.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !checkBrowserCall(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", errBadClaim.Error())
		return
	}
	req, err := parseClaim(body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	ctx, stop := s.untilDrain(r) // a restart answers "pending": the script asks again
	id, err := s.rendezvous.Claim(ctx, req.Channel, req.Secret, req.Code, s.claimWait)
	stop()
	switch {
	case errors.Is(err, rendezvous.ErrPending):
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
		return
	case errors.Is(err, rendezvous.ErrWrongSecret):
		writeJSONError(w, http.StatusForbidden, "invalid_grant", "the secret or code does not match this sign-in")
		return
	case errors.Is(err, rendezvous.ErrClaimed):
		writeJSONError(w, http.StatusConflict, "invalid_grant", "this sign-in was already collected")
		return
	case errors.Is(err, rendezvous.ErrExpired):
		writeJSONError(w, http.StatusGone, "expired_token", "this sign-in expired or was refused; sign in again")
		return
	case err != nil:
		s.log.Error("rendezvous claim", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "could not collect the sign-in")
		return
	}
	if err := s.setSessionCookie(w, s.embedCookie, id); err != nil {
		s.log.Error("set embed cookie", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "could not collect the sign-in")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed_in"})
}

// handOver ends a popup sign-in's callback: it records the finished sign-in
// for the frame's channel with a fresh one-time code, and shows the page
// that hands the code to the opener or asks the viewer to confirm.
func (s *Server) handOver(w http.ResponseWriter, r *http.Request, channel, challenge, sessionID string) {
	code := randomString(32)
	err := s.rendezvous.Complete(r.Context(), channel, challenge, sessionID, code, rendezvousTTL)
	switch {
	case errors.Is(err, rendezvous.ErrClaimed):
		s.renderPage(w, http.StatusConflict, "Sign-in window already used", "You are signed in, but this sign-in window was used before. Close it and use the dashboard's sign-in button again.", "")
		return
	case err != nil:
		s.log.Error("rendezvous complete", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not hand the sign-in to the dashboard. Close this window and try again.", "")
		return
	}
	nonce := randomString(18)
	body := popupPage.Render(map[string]string{
		"nonce": nonce, "channel": channel, "code": code, "short": rendezvous.ShortCode(challenge),
		"origin": s.origin(), "action": Prefix + "confirm",
	})
	page.Write(w, http.StatusOK, "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'", body)
}

// origin is tokenhook's own origin (scheme://host[:port] of PublicURL).
func (s *Server) origin() string {
	u, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return s.cfg.PublicURL
	}
	return u.Scheme + "://" + u.Host
}

// popupPage is what the sign-in window shows after a popup sign-in. Its
// script reads the channel, the code and tokenhook's origin from the form.
var popupPage = page.Must(page.Parse("popup", `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signed in · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 28rem; margin: 1rem; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.3rem; margin: 0 0 .75rem; }
  .code { font: 600 1.6rem/1.2 ui-monospace, monospace; letter-spacing: .08em; text-align: center; margin: 1rem 0; }
  button { font: inherit; padding: .5rem 1.1rem; border-radius: 8px; border: 1px solid #2456d3; margin: .25rem .5rem 0 0; cursor: pointer; }
  button[value=yes] { background: #2456d3; color: #fff; }
  button[value=no] { background: #fff; color: #2456d3; }
</style>
</head>
<body>
<main>
  <section id="sent" hidden>
    <h1>You are signed in</h1>
    <p>Return to the dashboard: it continues on its own. You can close this window.</p>
  </section>
  <form id="confirm" method="post" action="{{action}}" data-origin="{{origin}}">
    <h1>Check the code</h1>
    <p>The dashboard you are signing in to shows a code. Continue only if it is this one:</p>
    <p class="code" id="short">{{short}}</p>
    <p>If the dashboard shows another code, or you did not just choose "Sign in" on a dashboard, someone else started this sign-in: choose "Not my code".</p>
    <input type="hidden" name="channel" value="{{channel}}">
    <input type="hidden" name="code" value="{{code}}">
    <button type="submit" name="answer" value="yes">Continue</button>
    <button type="submit" name="answer" value="no">Not my code</button>
  </form>
</main>
<script nonce="{{nonce}}">
(function () {
  // With an opener, the one-time code goes to it, addressed to tokenhook's
  // own origin: a window another site opened never receives it. Without
  // one (COOP, noopener, a system browser), the viewer confirms the code.
  if (!window.opener) return;
  var form = document.getElementById("confirm");
  try { window.opener.postMessage({type: "tokenhook:signed-in", channel: form.elements.channel.value, code: form.elements.code.value}, form.dataset.origin); } catch (e) {}
  form.hidden = true;
  document.getElementById("sent").hidden = false;
  setTimeout(function () { window.close(); }, 400);
})();
</script>
</body>
</html>
`))

// handleConfirm takes the viewer's answer in a sign-in window without an
// opener: POST channel, code, answer=yes|no from the page handOver showed.
// The form's one-time code is what makes a cross-site request useless (the
// attacker never sees it); a browser's own word that the request is
// cross-site is refused too.
func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		s.renderPage(w, http.StatusForbidden, "Sign-in not confirmed", "This confirmation did not come from tokenhook's own sign-in window.", "")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.origin() {
		s.renderPage(w, http.StatusForbidden, "Sign-in not confirmed", "This confirmation did not come from tokenhook's own sign-in window.", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.renderPage(w, http.StatusBadRequest, "Sign-in not confirmed", "The confirmation was damaged. Close this window and use the dashboard's sign-in button again.", "")
		return
	}
	channel, code, answer := r.PostForm.Get("channel"), r.PostForm.Get("code"), r.PostForm.Get("answer")
	if !validChannel(channel) || !validCode(code) || answer != "yes" && answer != "no" {
		s.renderPage(w, http.StatusBadRequest, "Sign-in not confirmed", "The confirmation was damaged. Close this window and use the dashboard's sign-in button again.", "")
		return
	}
	err := s.rendezvous.Confirm(r.Context(), channel, code, answer == "yes")
	switch {
	case err == nil && answer == "yes":
		s.renderPage(w, http.StatusOK, "You are signed in", "Return to the dashboard: it continues on its own. You can close this window.", "")
	case err == nil:
		s.log.Warn("popup sign-in refused by the viewer (code did not match)")
		s.renderPage(w, http.StatusOK, "Sign-in refused", "Nothing was handed over. You can close this window. If you did not start this sign-in, someone may have sent you the link on purpose.", "")
	case errors.Is(err, rendezvous.ErrClaimed):
		s.renderPage(w, http.StatusConflict, "Already answered", "This sign-in was already handed over or answered. You can close this window.", "")
	case errors.Is(err, rendezvous.ErrWrongSecret):
		s.renderPage(w, http.StatusForbidden, "Sign-in not confirmed", "The confirmation does not match this sign-in.", "")
	case errors.Is(err, rendezvous.ErrExpired):
		s.renderPage(w, http.StatusGone, "Sign-in took too long", "The dashboard stopped waiting. Close this window and use the dashboard's sign-in button again.", "")
	default:
		s.log.Error("rendezvous confirm", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Sign-in not confirmed", "tokenhook could not record the answer. Close this window and try again.", "")
	}
}

// limited lets h answer only requests within l's limit for their client
// address; others get 429 with Retry-After, as a page (asPage, for
// navigations) or as a JSON error. One address's refusals never touch
// another's.
func (s *Server) limited(l *ratelimit.Limiter, asPage bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok, retry := l.Allow(ratelimit.ClientKey(r), s.now())
		if ok {
			h(w, r)
			return
		}
		secs := strconv.Itoa(int(math.Ceil(retry.Seconds())))
		w.Header().Set("Retry-After", secs)
		w.Header().Set("Cache-Control", "no-store")
		msg := fmt.Sprintf("Too many sign-in attempts from your network. Try again in %s seconds.", secs)
		if asPage {
			writeNotice(w, http.StatusTooManyRequests, "Too many sign-in attempts", msg, "", "")
			return
		}
		writeJSONError(w, http.StatusTooManyRequests, "rate_limited", msg)
	}
}

// isFrameNavigation reports whether r loads a page into an iframe (fetch
// metadata; browsers without it get the top-level behaviour).
func isFrameNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	d := r.Header.Get("Sec-Fetch-Dest")
	return (d == "iframe" || d == "frame") && r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// embeddedHTML is the sign-in page of a frame without a session;
// embeddedPage puts the browser hook's script tag in place of its comment.
const embeddedHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to continue · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 28rem; margin: 1rem; padding: 2rem; text-align: center; }
  h1 { font-size: 1.25rem; margin: 0 0 .5rem; }
</style>
</head>
<body>
<main>
  <h1>Sign in to continue</h1>
  <p>This dashboard opens its sign-in in a new window.</p>
</main>
<!--script-->
</body>
</html>
`

// embeddedPage builds the iframe sign-in page for the bundle's script tag
// (once, at start-up).
func embeddedPage(scriptTag string) (*page.Template, error) {
	return page.Parse("embedded", strings.Replace(embeddedHTML, "<!--script-->", scriptTag, 1))
}

// renderEmbeddedSignIn answers an iframe navigation without a session: a page
// that runs the browser hook, which offers the popup sign-in and reloads the
// frame once the iframe holds its session (data-reload).
func (s *Server) renderEmbeddedSignIn(w http.ResponseWriter) {
	// The page may be framed (that is its purpose); it runs only our script.
	page.Write(w, http.StatusUnauthorized, "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:", s.embedded.Render(nil))
}
