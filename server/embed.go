package server

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// claimWait is how long one claim request waits for the popup's sign-in to
// finish before answering "pending" (the iframe then asks again).
const claimWait = 25 * time.Second

// handleClaim is where an iframe collects a sign-in finished in a popup or in
// another browser window: POST {"channel","secret"}. On success the answer
// sets the embed session cookie in the iframe's own cookie partition, so
// later token requests (and refreshes) work without new popups.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !checkBrowserCall(w, r) {
		return
	}
	var req struct {
		Channel string `json:"channel"`
		Secret  string `json:"secret"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil || json.Unmarshal(body, &req) != nil || !validChannel(req.Channel) || len(req.Secret) < 32 || len(req.Secret) > 256 {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", `send {"channel":…,"secret":…} as JSON`)
		return
	}
	ctx, stop := s.untilDrain(r) // a restart answers "pending": the script asks again
	id, err := s.rendezvous.Claim(ctx, req.Channel, req.Secret, claimWait)
	stop()
	switch {
	case errors.Is(err, rendezvous.ErrPending):
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
		return
	case errors.Is(err, rendezvous.ErrWrongSecret):
		writeJSONError(w, http.StatusForbidden, "invalid_grant", "the secret does not match this sign-in")
		return
	case errors.Is(err, rendezvous.ErrClaimed):
		writeJSONError(w, http.StatusConflict, "invalid_grant", "this sign-in was already collected")
		return
	case errors.Is(err, rendezvous.ErrExpired):
		writeJSONError(w, http.StatusGone, "expired_token", "this sign-in expired; sign in again")
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

var popupTmpl = template.Must(template.New("popup").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signed in · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 28rem; margin: 1rem; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.3rem; margin: 0 0 .75rem; }
</style>
</head>
<body>
<main>
  <h1>You are signed in</h1>
  <p>Return to the dashboard: it continues on its own. You can close this window.</p>
</main>
<script nonce="{{.Nonce}}">
(function () {
  var msg = {type: "tokenhook:signed-in", channel: {{.Channel}}};
  try { if (window.opener) window.opener.postMessage(msg, {{.Origin}}); } catch (e) {}
  setTimeout(function () { window.close(); }, 400);
})();
</script>
</body>
</html>
`))

// renderPopupDone is the page the popup lands on after an iframe's sign-in.
// It tells its opener (when it still has one) that the channel is ready;
// the message carries no token, only the channel id, and is addressed to our
// own origin. Without an opener the iframe's claim long-poll finds the result.
func (s *Server) renderPopupDone(w http.ResponseWriter, channel string) {
	nonce := randomString(18)
	s.writePage(w, http.StatusOK, popupTmpl, struct{ Nonce, Channel, Origin string }{nonce, channel, s.cfg.PublicURL},
		"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+nonce+"'; frame-ancestors 'none'")
}
