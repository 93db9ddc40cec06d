package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/page"
)

// exchangeFailed answers a callback whose code exchange failed, saying what
// happened: the provider refused the code as invalid_grant (a stale,
// reused or foreign code: the client's problem, 400), the provider answered
// with another error (502), or tokenhook could not reach it (503, with a
// retry; logged once per outage by the reachability tracker, not here).
func (f *Flow) exchangeFailed(w http.ResponseWriter, err error) {
	var re *broker.RefreshError // the provider answered (its body is not kept)
	answered := errors.As(err, &re)
	switch {
	case answered && re.Code == "invalid_grant":
		f.Log.Info("code exchange refused", "err", err)
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in expired", "The identity provider no longer accepts this sign-in (it was already used, took too long, or belongs to another sign-in). Please sign in again.", f.LoginPath)
	case answered:
		f.Log.Warn("code exchange failed", "err", err)
		page.SignInNotice(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in. Please start again.", f.LoginPath)
	default:
		f.Log.Debug("code exchange could not reach the provider", "err", err)
		renderRetry(w, "The identity provider is unreachable", "tokenhook could not reach the identity provider to finish the sign-in. Sign in again in a moment.", f.LoginPath)
	}
}

// fetchUserinfo reads the claims of a plain OAuth 2.0 provider's user.
func (f *Flow) fetchUserinfo(r *http.Request, tok *oauth2.Token) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.UserinfoURL, nil)
	if err != nil {
		return nil, err
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("userinfo: status %s", strconv.Itoa(resp.StatusCode))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || !json.Valid(b) {
		return nil, errors.New("userinfo: not a JSON answer")
	}
	return b, nil
}
