package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/server/idp/idptest"
	"github.com/tokenhook/tokenhook/server/rendezvous"
)

func TestPopupSignInHandOver(t *testing.T) {
	e := newEnv(t)
	secret := randomString(32)
	channel := randomString(16)
	popup := newBrowser()
	q := url.Values{"popup": {"1"}, "channel": {channel}, "challenge": {rendezvous.Challenge(secret)}}
	resp, err := idptest.Login(context.Background(), popup, e.url+"/_tokenhook/login?"+q.Encode(), users[0].Email, users[0].Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("tokenhook:signed-in")) || !bytes.Contains(page, []byte("You are signed in")) {
		t.Fatalf("popup page: %d %s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
		t.Fatalf("popup CSP: %q", csp)
	}

	claim := func(secret string) (*http.Response, map[string]string) {
		body, _ := json.Marshal(map[string]string{"channel": channel, "secret": secret})
		req, _ := http.NewRequest("POST", e.url+"/_tokenhook/claim", bytes.NewReader(body))
		req.Header.Set("X-TokenHook", "1")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		return r, m
	}
	if r, m := claim(randomString(32)); r.StatusCode != 403 || m["error"] != "invalid_grant" {
		t.Fatalf("wrong secret: %d %v", r.StatusCode, m)
	}
	r, m := claim(secret)
	if r.StatusCode != 200 || m["status"] != "signed_in" {
		t.Fatalf("claim: %d %v", r.StatusCode, m)
	}
	var embed *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "tokenhook-embed" {
			embed = c
		}
	}
	sc := r.Header.Values("Set-Cookie")
	if embed == nil || !strings.Contains(strings.Join(sc, ";"), "SameSite=None") || !embed.Secure || !embed.Partitioned || !embed.HttpOnly {
		t.Fatalf("embed cookie: %v", sc)
	}
	if r, _ := claim(secret); r.StatusCode != 409 {
		t.Fatalf("second claim: %d", r.StatusCode)
	}
	// The iframe's token request carries only the embed cookie.
	req, _ := http.NewRequest("GET", e.url+"/_tokenhook/token", nil)
	req.Header.Set("X-TokenHook", "1")
	req.AddCookie(&http.Cookie{Name: embed.Name, Value: embed.Value})
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(tr.Body).Decode(&tok)
	tr.Body.Close()
	if tr.StatusCode != 200 || tok["access_token"] == nil {
		t.Fatalf("token with the embed cookie: %d %v", tr.StatusCode, tok)
	}
	if bytes.Contains(page, []byte(tok["access_token"].(string))) {
		t.Fatal("the popup page carries the token")
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
	body := strings.NewReader(`{"channel":"` + randomString(16) + `","secret":"` + randomString(32) + `"}`)
	req, _ := http.NewRequest("POST", e.url+"/_tokenhook/claim", body)
	req.Header.Set("X-TokenHook", "1")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 410 {
		t.Fatalf("claim of an unknown channel: %d, want 410", r.StatusCode)
	}
}
