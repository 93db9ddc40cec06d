package server

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// popupSignIn is one popup sign-in as the server saw it: the frame's
// channel and secret, and what the sign-in window's page holds.
type popupSignIn struct {
	channel, secret string
	page            string // the sign-in window's page after the callback
	code            string // the one-time code in that page
	short           string // the short code the page shows
	status          int
}

var (
	// The page's attributes may or may not be quoted (it is minified).
	hiddenCode  = regexp.MustCompile(`name="?code"? value="?([A-Za-z0-9_-]{43})"?[ >]`)
	shortInPage = regexp.MustCompile(`id="?short"?>([A-Z2-9]{4}-[A-Z2-9]{4})<`)
)

func firstGroup(m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// signInPopup follows a popup sign-in link for channel/secret in browser c,
// signing in as users[0] at the real provider.
func (e *testEnv) signInPopup(c *http.Client, channel, secret string) popupSignIn {
	e.t.Helper()
	q := url.Values{"popup": {"1"}, "channel": {channel}, "challenge": {rendezvous.Challenge(secret)}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, e.url+"/_tokenhook/login?"+q.Encode(), users[0].Email, users[0].Password, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := popupSignIn{channel: channel, secret: secret, page: string(b), status: resp.StatusCode}
	if m := hiddenCode.FindStringSubmatch(p.page); m != nil {
		p.code = firstGroup(m)
	}
	if m := shortInPage.FindStringSubmatch(p.page); m != nil {
		p.short = firstGroup(m)
	}
	return p
}

// claimAnswer is the claim endpoint's answer.
type claimAnswer struct {
	status int
	body   map[string]string
	embed  *http.Cookie
}

func (e *testEnv) claim(channel, secret, code string) claimAnswer {
	e.t.Helper()
	req := map[string]string{"channel": channel, "secret": secret}
	if code != "" {
		req["code"] = code
	}
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest("POST", e.url+"/_tokenhook/claim", bytes.NewReader(body))
	hr.Header.Set("X-TokenHook", "1")
	r, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	a := claimAnswer{status: r.StatusCode}
	json.NewDecoder(r.Body).Decode(&a.body)
	for _, c := range r.Cookies() {
		if c.Name == "tokenhook-embed" {
			a.embed = c
		}
	}
	return a
}

// confirm posts the sign-in window's confirmation form from browser c.
func (e *testEnv) confirm(c *http.Client, channel, code, answer string, hdr map[string]string) (int, string) {
	e.t.Helper()
	form := url.Values{"channel": {channel}, "code": {code}, "answer": {answer}}
	r, b := do(e.t, c, "POST", e.url+"/_tokenhook/confirm", withHeaders(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, hdr), form.Encode())
	return r.StatusCode, html.UnescapeString(b)
}

// embedToken asks the token endpoint with only the embed cookie, as the
// iframe does.
func (e *testEnv) embedToken(embed *http.Cookie) tokenAnswer {
	e.t.Helper()
	c := testenv.NewClient()
	u, _ := url.Parse(e.url)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: embed.Name, Value: embed.Value}})
	return e.token(c, nil)
}

// TestPopupSignInHandOver: the frame the sign-in window vouches for (by the
// one-time code posted to its opener) collects a working session once; the
// sign-in window's page carries no token.
func TestPopupSignInHandOver(t *testing.T) {
	e := newEnv(t)
	e.srv.handover.ClaimWait = 100 * time.Millisecond
	p := e.signInPopup(testenv.NewClient(), randomString(16), randomString(32))
	if p.status != 200 || !strings.Contains(p.page, "tokenhook:signed-in") || p.code == "" {
		t.Fatalf("sign-in window page: %d %s", p.status, p.page)
	}
	if want := rendezvous.ShortCode(rendezvous.Challenge(p.secret)); p.short != want {
		t.Errorf("the sign-in window shows the code %q, want %q (the frame's)", p.short, want)
	}

	for _, tc := range []struct {
		name, secret, code string
		status             int
		want               string
	}{
		{"wrong secret", randomString(32), p.code, 403, "invalid_grant"},
		{"secret without the code, unconfirmed", p.secret, "", 202, "pending"},
		{"secret and the code", p.secret, p.code, 200, "signed_in"},
		{"replayed", p.secret, p.code, 409, "invalid_grant"},
	} {
		a := e.claim(p.channel, tc.secret, tc.code)
		got := a.body["error"] + a.body["status"]
		if a.status != tc.status || got != tc.want {
			t.Fatalf("%s: %d %v, want %d %s", tc.name, a.status, a.body, tc.status, tc.want)
		}
		if a.status != 200 {
			continue
		}
		if !a.embed.Secure || !a.embed.Partitioned || !a.embed.HttpOnly || a.embed.SameSite != http.SameSiteNoneMode {
			t.Fatalf("embed cookie: %+v", a.embed)
		}
		tok := e.embedToken(a.embed)
		if tok.status != 200 || tok.body["access_token"] == nil {
			t.Fatalf("token with the embed cookie: %v", tok)
		}
		if strings.Contains(p.page, tok.body["access_token"].(string)) {
			t.Fatal("the sign-in window's page carries the token")
		}
	}
}

// TestPopupSignInHijack is the attack of issue 10 (defect 1): an attacker
// picks a channel and secret, sends the viewer the popup link (no opener),
// and the viewer signs in. The attacker's claim never gets the session: not
// with the secret alone, not with guessed codes, not after a forged
// cross-site confirmation. Only the viewer's own confirmation in the
// sign-in window would make it claimable, and that page shows a code the
// viewer sees in no dashboard.
func TestPopupSignInHijack(t *testing.T) {
	e := newEnv(t)
	e.srv.handover.ClaimWait = 200 * time.Millisecond
	channel, secret := randomString(16), randomString(32)
	viewer := testenv.NewClient()
	p := e.signInPopup(viewer, channel, secret)
	if p.status != 200 || p.code == "" {
		t.Fatalf("the viewer's sign-in window: %d %s", p.status, p.page)
	}

	if a := e.claim(channel, secret, ""); a.status == 200 || a.embed != nil {
		t.Fatalf("the attacker's claim with the secret got the viewer's session: %d %v", a.status, a.body)
	}
	// A cross-site confirmation, forged by the attacker's page in the
	// viewer's browser (the viewer's cookies go with it), without the code.
	for _, hdr := range []map[string]string{
		{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{},
	} {
		if st, _ := e.confirm(viewer, channel, randomString(32), "yes", hdr); st == 200 {
			t.Fatalf("a confirmation without the sign-in window's code was accepted (%v)", hdr)
		}
	}
	// Even the right code is refused when the browser says the form was
	// posted by another site.
	if st, _ := e.confirm(viewer, channel, p.code, "yes", map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}); st != 403 {
		t.Fatalf("a cross-site confirmation answered %d, want 403", st)
	}
	if a := e.claim(channel, secret, ""); a.status == 200 {
		t.Fatal("the attacker collected the sign-in after forged confirmations")
	}
	for range 4 {
		e.claim(channel, secret, randomString(32))
	}
	// The guesses burnt the channel: not even the viewer's confirmation
	// revives it.
	if st, _ := e.confirm(viewer, channel, p.code, "yes", nil); st == 200 {
		t.Fatal("a burnt channel was confirmed")
	}
	if a := e.claim(channel, secret, p.code); a.status != 410 {
		t.Fatalf("after guessing, the right code got %d %v, want 410", a.status, a.body)
	}
}

// TestPopupConfirm: without an opener, the viewer confirms the code in the
// sign-in window and the frame's secret collects the session; "Not my code"
// refuses the sign-in for good.
func TestPopupConfirm(t *testing.T) {
	e := newEnv(t)
	e.srv.handover.ClaimWait = 100 * time.Millisecond
	same := map[string]string{"Origin": e.url, "Sec-Fetch-Site": "same-origin"}

	viewer := testenv.NewClient()
	p := e.signInPopup(viewer, randomString(16), randomString(32))
	if st, page := e.confirm(viewer, p.channel, p.code, "yes", same); st != 200 || !strings.Contains(page, "You are signed in") {
		t.Fatalf("confirm: %d %s", st, page)
	}
	a := e.claim(p.channel, p.secret, "")
	if a.status != 200 || a.embed == nil {
		t.Fatalf("claim after confirmation: %d %v", a.status, a.body)
	}
	if tok := e.embedToken(a.embed); tok.status != 200 {
		t.Fatalf("token with the embed cookie: %v", tok)
	}

	// Dex keeps one refresh token per user: the second sign-in is another user's.
	q := url.Values{"popup": {"1"}, "channel": {randomString(16)}, "challenge": {rendezvous.Challenge(randomString(32))}}
	resp, err := idptest.Login(context.Background(), testenv.NewClient(), e.url+"/_tokenhook/login?"+q.Encode(), users[1].Email, users[1].Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code := firstGroup(hiddenCode.FindStringSubmatch(string(b)))
	if st, page := e.confirm(testenv.NewClient(), q.Get("channel"), code, "no", same); st != 200 || !strings.Contains(page, "Sign-in refused") {
		t.Fatalf("refuse: %d %s", st, page)
	}
	if a := e.claim(q.Get("channel"), randomString(32), code); a.status != 410 {
		t.Fatalf("claim of a refused sign-in: %d %v, want 410", a.status, a.body)
	}
}

func TestPopupLinkValidation(t *testing.T) {
	e := newEnv(t)
	for name, q := range map[string]string{
		"bad challenge": "popup=1&channel=" + randomString(16) + "&challenge=short",
		"bad channel":   "popup=1&channel=a%2Fb&challenge=" + rendezvous.Challenge("x"),
	} {
		r, err := http.Get(e.url + "/_tokenhook/login?" + q)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", name, r.StatusCode)
		}
	}
}
