package assertion

import (
	"testing"
	"time"
)

func TestSocketExpiry(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	const week = 168 * time.Hour
	for _, tc := range []struct {
		name     string
		credsEnd time.Time
		want     time.Time
	}{
		{"the session's end", now.Add(time.Hour), now.Add(time.Hour)},
		{"at most the session TTL", now.Add(2 * week), now.Add(week)},
		{"no end known: the session TTL", time.Time{}, now.Add(week)},
		{"never shorter than an HTTP request's", now.Add(time.Minute), now.Add(TTL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SocketExpiry(now, tc.credsEnd, week); !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func newTestSigner(t *testing.T, b byte) *Signer {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = b
	}
	s, err := NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	s, other := newTestSigner(t, 1), newTestSigner(t, 2)
	now := time.Now()
	const iss, aud = "https://dash.example", "http://app.internal"
	good, _ := s.Sign(iss, aud, "sub", "v@example.com", "key1", now)
	forged, _ := other.Sign(iss, aud, "sub", "", "key1", now)
	expired, _ := s.Sign(iss, aud, "sub", "", "key1", now.Add(-10*time.Minute))
	otherAud, _ := s.Sign(iss, "http://elsewhere", "sub", "", "key1", now)
	otherIss, _ := s.Sign("https://evil.example", aud, "sub", "", "key1", now)
	noSID, _ := s.Sign(iss, aud, "sub", "", "", now)
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"good", good, true},
		{"forged", forged, false},
		{"expired", expired, false},
		{"other audience", otherAud, false},
		{"other issuer", otherIss, false},
		{"no session", noSID, false},
		{"garbage", "a.b.c", false},
		{"too long", good + string(make([]byte, 8<<10)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Verify(tc.raw, iss, aud, now)
			if tc.ok != (err == nil) {
				t.Fatalf("Verify: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (c.SID != "key1" || c.Email != "v@example.com" || c.Subject != "sub") {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

// TestForSessionReuse: an assertion is reused while it has more than four
// minutes left, and never past that.
func TestForSessionReuse(t *testing.T) {
	s := newTestSigner(t, 3)
	now := time.Now()
	a1, _ := s.ForSession("https://i", "a", "sub", "", "k", now)
	a2, _ := s.ForSession("https://i", "a", "sub", "", "k", now.Add(59*time.Second))
	a3, _ := s.ForSession("https://i", "a", "sub", "", "k", now.Add(61*time.Second))
	if a1 != a2 {
		t.Error("not reused within the first minute")
	}
	if a3 == a1 {
		t.Error("reused with less than four minutes left")
	}
	if _, err := s.Verify(a3, "https://i", "a", now.Add(61*time.Second+TTL-time.Second)); err != nil {
		t.Errorf("the fresh assertion lives TTL: %v", err)
	}
}

func TestNewSignerSeed(t *testing.T) {
	if _, err := NewSigner(make([]byte, 16)); err == nil {
		t.Error("a 16-byte seed was accepted")
	}
}
