// Package handover is the iframe hand-over: a framed dashboard cannot show
// the provider's sign-in (it refuses framing), so the frame opens a popup,
// and collects the session the popup's sign-in made with a claim. See
// package rendezvous for the protocol and README.md ("Dashboards in
// iframes") for its threat model. It also answers a frame's navigation
// without a session with a page that offers that sign-in.
package handover

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/page"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// TTL is how long an iframe's popup sign-in may take, from opening the popup
// to claiming the result.
const TTL = 5 * time.Minute

// DefaultClaimWait is how long one claim request waits for the popup's
// sign-in to finish before answering "pending" (the iframe then asks again).
const DefaultClaimWait = 25 * time.Second

// Handover answers the hand-over's endpoints. Build it with New.
type Handover struct {
	// Rendezvous records finished popup sign-ins until their frame claims them.
	Rendezvous rendezvous.Store
	// Origin is tokenhook's own origin (scheme://host[:port]): the only
	// target of the popup's message, and the only Origin a confirmation
	// may come from.
	Origin string
	// ConfirmPath is where the sign-in window's confirmation form posts.
	ConfirmPath string
	// ClaimWait is how long a claim waits for its sign-in (New sets
	// DefaultClaimWait).
	ClaimWait time.Duration
	// SetSession gives the claiming frame the session id: it sets the
	// embed cookie, in the iframe's own cookie partition.
	SetSession func(w http.ResponseWriter, sessionID string) error
	// UntilDrain returns r's context, also cancelled when the server starts
	// draining, and the function that releases it.
	UntilDrain func(r *http.Request) (context.Context, func())
	Log        *slog.Logger

	embedded []byte // the frame's sign-in page (it has no slots: rendered once)
}

// New returns a hand-over whose frame sign-in page runs the browser hook
// loaded by scriptTag; fill in the other fields before use.
func New(scriptTag string) (*Handover, error) {
	p, err := page.Parse("embedded", strings.Replace(embeddedHTML, "<!--script-->", scriptTag, 1))
	if err != nil {
		return nil, err
	}
	return &Handover{ClaimWait: DefaultClaimWait, embedded: p.Render(nil)}, nil
}

// ValidChannel accepts the iframe's channel id: 16 to 128 base64url characters.
func ValidChannel(c string) bool { return len(c) >= 16 && len(c) <= 128 && isBase64URL(c) }

// ValidChallenge accepts an S256 challenge: 43 base64url characters.
func ValidChallenge(c string) bool { return len(c) == 43 && isBase64URL(c) }

// validCode accepts a one-time hand-over code: 43 base64url characters.
func validCode(c string) bool { return len(c) == 43 && isBase64URL(c) }

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

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
	if !ValidChannel(req.Channel) || len(req.Secret) < 32 || len(req.Secret) > 256 || req.Code != "" && !validCode(req.Code) {
		return claimRequest{}, errBadClaim
	}
	return req, nil
}

// Claim is where an iframe collects a sign-in finished in a popup or in
// another browser window: POST {"channel","secret"[,"code"]}. On success the
// answer sets the embed session cookie in the iframe's own cookie
// partition, so later token requests (and refreshes) work without new
// popups.
func (h *Handover) Claim(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !answer.BrowserCall(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil {
		answer.Error(w, http.StatusBadRequest, "invalid_request", errBadClaim.Error())
		return
	}
	req, err := parseClaim(body)
	if err != nil {
		answer.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	ctx, stop := h.UntilDrain(r) // a restart answers "pending": the script asks again
	id, err := h.Rendezvous.Claim(ctx, req.Channel, req.Secret, req.Code, h.ClaimWait)
	stop()
	switch {
	case errors.Is(err, rendezvous.ErrPending):
		answer.JSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
		return
	case errors.Is(err, rendezvous.ErrWrongSecret):
		answer.Error(w, http.StatusForbidden, "invalid_grant", "the secret or code does not match this sign-in")
		return
	case errors.Is(err, rendezvous.ErrClaimed):
		answer.Error(w, http.StatusConflict, "invalid_grant", "this sign-in was already collected")
		return
	case errors.Is(err, rendezvous.ErrExpired):
		answer.Error(w, http.StatusGone, "expired_token", "this sign-in expired or was refused; sign in again")
		return
	case err != nil:
		h.Log.Error("rendezvous claim", "err", err)
		answer.Error(w, http.StatusInternalServerError, "server_error", "could not collect the sign-in")
		return
	}
	if err := h.SetSession(w, id); err != nil {
		h.Log.Error("set embed cookie", "err", err)
		answer.Error(w, http.StatusInternalServerError, "server_error", "could not collect the sign-in")
		return
	}
	answer.JSON(w, http.StatusOK, map[string]string{"status": "signed_in"})
}

// Complete ends a popup sign-in's callback: it records the finished sign-in
// of sessionID for the frame's channel with a fresh one-time code, and
// shows the page that hands the code to the opener or asks the viewer to
// confirm.
func (h *Handover) Complete(w http.ResponseWriter, r *http.Request, channel, challenge, sessionID string) {
	code := randomString(32)
	err := h.Rendezvous.Complete(r.Context(), channel, challenge, sessionID, code, TTL)
	switch {
	case errors.Is(err, rendezvous.ErrClaimed):
		page.SignInNotice(w, http.StatusConflict, "Sign-in window already used", "You are signed in, but this sign-in window was used before. Close it and use the dashboard's sign-in button again.", "")
		return
	case err != nil:
		h.Log.Error("rendezvous complete", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not hand the sign-in to the dashboard. Close this window and try again.", "")
		return
	}
	nonce := randomString(18)
	body := popupPage.Render(map[string]string{
		"nonce": nonce, "channel": channel, "code": code, "short": rendezvous.ShortCode(challenge),
		"origin": h.Origin, "action": h.ConfirmPath,
	})
	page.Write(w, http.StatusOK, "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'", body)
}

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

// Confirm takes the viewer's answer in a sign-in window without an
// opener: POST channel, code, answer=yes|no from the page Complete showed.
// The form's one-time code is what makes a cross-site request useless (the
// attacker never sees it); a browser's own word that the request is
// cross-site is refused too.
func (h *Handover) Confirm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		page.SignInNotice(w, http.StatusForbidden, "Sign-in not confirmed", "This confirmation did not come from tokenhook's own sign-in window.", "")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != h.Origin {
		page.SignInNotice(w, http.StatusForbidden, "Sign-in not confirmed", "This confirmation did not come from tokenhook's own sign-in window.", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in not confirmed", "The confirmation was damaged. Close this window and use the dashboard's sign-in button again.", "")
		return
	}
	channel, code, answer := r.PostForm.Get("channel"), r.PostForm.Get("code"), r.PostForm.Get("answer")
	if !ValidChannel(channel) || !validCode(code) || answer != "yes" && answer != "no" {
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in not confirmed", "The confirmation was damaged. Close this window and use the dashboard's sign-in button again.", "")
		return
	}
	err := h.Rendezvous.Confirm(r.Context(), channel, code, answer == "yes")
	switch {
	case err == nil && answer == "yes":
		page.SignInNotice(w, http.StatusOK, "You are signed in", "Return to the dashboard: it continues on its own. You can close this window.", "")
	case err == nil:
		h.Log.Warn("popup sign-in refused by the viewer (code did not match)")
		page.SignInNotice(w, http.StatusOK, "Sign-in refused", "Nothing was handed over. You can close this window. If you did not start this sign-in, someone may have sent you the link on purpose.", "")
	case errors.Is(err, rendezvous.ErrClaimed):
		page.SignInNotice(w, http.StatusConflict, "Already answered", "This sign-in was already handed over or answered. You can close this window.", "")
	case errors.Is(err, rendezvous.ErrWrongSecret):
		page.SignInNotice(w, http.StatusForbidden, "Sign-in not confirmed", "The confirmation does not match this sign-in.", "")
	case errors.Is(err, rendezvous.ErrExpired):
		page.SignInNotice(w, http.StatusGone, "Sign-in took too long", "The dashboard stopped waiting. Close this window and use the dashboard's sign-in button again.", "")
	default:
		h.Log.Error("rendezvous confirm", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Sign-in not confirmed", "tokenhook could not record the answer. Close this window and try again.", "")
	}
}

// IsFrameNavigation reports whether r loads a page into an iframe (fetch
// metadata; browsers without it get the top-level behaviour).
func IsFrameNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	d := r.Header.Get("Sec-Fetch-Dest")
	return (d == "iframe" || d == "frame") && r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// embeddedHTML is the sign-in page of a frame without a session; New puts
// the browser hook's script tag in place of its comment.
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

// EmbeddedSignIn answers an iframe navigation without a session: a page
// that runs the browser hook, which offers the popup sign-in and reloads the
// frame once the iframe holds its session (data-reload).
func (h *Handover) EmbeddedSignIn(w http.ResponseWriter) {
	// The page may be framed (that is its purpose); it runs only our script.
	page.Write(w, http.StatusUnauthorized, "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:", h.embedded)
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics internally if it cannot)
	return base64.RawURLEncoding.EncodeToString(b)
}
