package redisstore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/backchannel"
	"github.com/tokenhook/tokenhook/server/session"
)

// replica is one tokenhook process's view of the shared Redis.
type replica struct {
	sessions *Sessions
	bus      *Bus
	logout   http.Handler
}

// TestBackChannelLogoutAcrossReplicas: a logout token posted to replica B
// ends the session replica A created, A hears of it on the bus within a
// second, and the same token posted to A is refused as a replay.
func TestBackChannelLogoutAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	key := testenv.StoreKey()
	signer, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{signer.Public()}}
	newReplica := func() replica {
		c := client(t)
		s, _ := NewSessions(c, key, prefix(t))
		bus := NewBus(c, prefix(t))
		v, err := backchannel.New(backchannel.Config{Issuer: "https://idp.example.com", ClientID: "tokenhook", KeySet: keys, Replay: NewOnce(c, prefix(t))})
		if err != nil {
			t.Fatal(err)
		}
		return replica{s, bus, backchannel.Handler(v, backchannel.EndSessions(s, bus))}
	}
	a, b := newReplica(), newReplica()
	ended := make(chan string, 4)
	stop := a.bus.Subscribe(func(k string) { ended <- k })
	defer stop()

	later := time.Now().Add(time.Hour)
	a.sessions.Save(ctx, session.Key("alice-laptop"), &session.Session{SID: "idp-sid-1", Subject: "alice", ExpiresAt: later})
	a.sessions.Save(ctx, session.Key("alice-phone"), &session.Session{SID: "idp-sid-2", Subject: "alice", ExpiresAt: later})

	token := testenv.SignJWT(t, jose.SigningKey{Algorithm: jose.RS256, Key: signer}, (&jose.SignerOptions{}).WithType("logout+jwt"),
		map[string]any{"iss": "https://idp.example.com", "aud": "tokenhook", "iat": time.Now().Unix(),
			"jti": "logout-1", "sid": "idp-sid-1", "events": map[string]any{backchannel.Event: map[string]any{}}})
	post := func(h http.Handler) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/_tokenhook/backchannel-logout", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post(b.logout); code != 200 {
		t.Fatalf("logout on replica B: %d", code)
	}
	select {
	case k := <-ended:
		if k != session.Key("alice-laptop") {
			t.Fatalf("replica A heard %s ended", k)
		}
	case <-time.After(time.Second):
		t.Fatal("replica A did not hear of the ended session within 1 s")
	}
	if _, err := a.sessions.Load(ctx, session.Key("alice-laptop")); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("replica A still loads the ended session: %v", err)
	}
	if _, err := a.sessions.Load(ctx, session.Key("alice-phone")); err != nil {
		t.Fatalf("the other provider session ended too: %v", err)
	}
	if code := post(a.logout); code != 400 {
		t.Fatalf("replayed token on replica A: %d, want 400", code)
	}
}
