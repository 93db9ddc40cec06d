package signin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/session"
)

func testSessions(secure bool) *Sessions {
	return NewSessions(session.NewMemory(), []byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32)), secure, time.Hour)
}

// requestWith is a request carrying the cookies rec set.
func requestWith(rec *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

func TestSessionsFindWhatTheyStarted(t *testing.T) {
	c := testSessions(false)
	rec := httptest.NewRecorder()
	now := time.Now()
	id, err := c.Start(rec, httptest.NewRequest("GET", "/", nil), &session.Session{Subject: "ada", Created: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sess, key, err := c.Load(requestWith(rec))
	if err != nil || sess.Subject != "ada" || key != session.Key(id) {
		t.Fatalf("Load = %v, %q, %v; want ada under %q", sess, key, err, session.Key(id))
	}
	// The embed cookie names the same session.
	rec = httptest.NewRecorder()
	if err := c.SetEmbed(rec, id); err != nil {
		t.Fatal(err)
	}
	if got := c.Key(requestWith(rec)); got != session.Key(id) {
		t.Fatalf("embed cookie key %q, want %q", got, session.Key(id))
	}
}

func TestSessionsRefuseForeignCookies(t *testing.T) {
	c, other := testSessions(false), NewSessions(session.NewMemory(), []byte(strings.Repeat("x", 32)), []byte(strings.Repeat("y", 32)), false, time.Hour)
	rec := httptest.NewRecorder()
	if _, err := other.Start(rec, httptest.NewRequest("GET", "/", nil), &session.Session{Subject: "mallory"}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*http.Request{
		"no cookie":      httptest.NewRequest("GET", "/", nil),
		"another secret": requestWith(rec),
		"garbage": func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: "tokenhook", Value: "abc"})
			return r
		}(),
	} {
		if key := c.Key(r); key != "" {
			t.Errorf("%s: key %q, want none", name, key)
		}
		if _, _, err := c.Load(r); !errors.Is(err, broker.ErrLoginRequired) {
			t.Errorf("%s: Load error %v, want ErrLoginRequired", name, err)
		}
	}
}

func TestSessionsCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c := testSessions(secure)
		rec := httptest.NewRecorder()
		if _, err := c.Start(rec, httptest.NewRequest("GET", "/", nil), &session.Session{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetEmbed(rec, "id"); err != nil {
			t.Fatal(err)
		}
		c.Clear(rec)
		cookies := rec.Result().Cookies()
		if len(cookies) != 4 {
			t.Fatalf("secure=%v: %d cookies, want 4", secure, len(cookies))
		}
		for _, ck := range cookies {
			if !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("secure=%v: cookie %s: HttpOnly %v, Path %q, Domain %q", secure, ck.Name, ck.HttpOnly, ck.Path, ck.Domain)
			}
			if secure && (!ck.Secure || !strings.HasPrefix(ck.Name, "__Host-")) {
				t.Errorf("secure=%v: cookie %s is not a Secure __Host- cookie", secure, ck.Name)
			}
			if strings.HasSuffix(ck.Name, "-embed") != (ck.SameSite == http.SameSiteNoneMode && ck.Secure && ck.Partitioned) {
				t.Errorf("secure=%v: cookie %s: SameSite %v, Secure %v, Partitioned %v", secure, ck.Name, ck.SameSite, ck.Secure, ck.Partitioned)
			}
		}
		for _, ck := range cookies[2:] {
			if ck.MaxAge >= 0 {
				t.Errorf("secure=%v: Clear left %s with MaxAge %d", secure, ck.Name, ck.MaxAge)
			}
		}
	}
}
