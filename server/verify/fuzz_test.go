package verify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// CI runs these briefly, e.g.
//
//	go test ./server/verify -run='^$' -fuzz='^FuzzVerify$' -fuzztime=10s
//	go test ./server/verify -run='^$' -fuzz='^FuzzParseAuthorization$' -fuzztime=10s

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer a.b.c", "Bearer  x==", "Bearer x=y", "Basic Zm9v", "Bearer", "Bearer ", "Bearer a b", "BEARER ~+/-._", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseAuthorization(h)
		if err != nil {
			if tok != "" {
				t.Fatal("token returned with an error")
			}
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenSize+1 || strings.ContainsAny(tok, " \t\r\n,;\"") {
			t.Fatalf("accepted bad token %q", tok)
		}
		if !strings.HasSuffix(h, tok) {
			t.Fatal("token is not the header's tail")
		}
	})
}

func FuzzVerify(f *testing.F) {
	ti := newTestIssuer(f)
	v := ti.verifier(f, func(c *Config) { c.CacheSize = -1 })
	valid := ti.token(f, nil)
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(ti.token(f, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	f.Add(ti.token(f, func(c map[string]any) { c["aud"] = []any{1, "app"} }))
	f.Add(sign(f, rsaKey(f, 1), "zz", jose.RS256, ti.claims(), nil))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("eyJ..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("unexpected error kind %v", err)
			}
			if strings.Contains(err.Error(), token) && len(token) > 8 {
				t.Fatal("error message echoes the token")
			}
			return
		}
		if c.Issuer != ti.srv.URL || c.Expiry.Before(time.Now().Add(-time.Minute)) {
			t.Fatalf("accepted token with bad claims: %+v", c)
		}
		found := false
		for _, a := range c.Audience {
			found = found || a == "app"
		}
		if !found {
			t.Fatalf("accepted token without our audience: %v", c.Audience)
		}
	})
}

// FuzzClaimsFromMap: any JSON object maps without panicking, and the groups
// claim means one thing: a string is exactly one group, a list its strings.
func FuzzClaimsFromMap(f *testing.F) {
	for _, s := range []string{`{}`, `{"groups":"a b"}`, `{"groups":["a","b",1,""]}`, `{"aud":["x",2]}`, `{"aud":"x","exp":1e20,"scp":["r","w"]}`,
		`{"email_verified":"true","scope":["a"],"sub":"s"}`, `{"groups":{"a":1}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		raw := map[string]any{}
		if json.Unmarshal([]byte(doc), &raw) != nil {
			return
		}
		c, err := ClaimsFromMap(raw, "")
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		switch g := raw["groups"].(type) {
		case string:
			if (g == "" && len(c.Groups) != 0) || (g != "" && (len(c.Groups) != 1 || c.Groups[0] != g)) {
				t.Fatalf("string groups %q mapped to %q", g, c.Groups)
			}
		case []any:
			n := 0
			for _, x := range g {
				if s, ok := x.(string); ok && s != "" {
					if c.Groups[n] != s {
						t.Fatalf("groups %v mapped to %q", g, c.Groups)
					}
					n++
				}
			}
			if n != len(c.Groups) {
				t.Fatalf("groups %v mapped to %q", g, c.Groups)
			}
		default:
			if len(c.Groups) != 0 {
				t.Fatalf("groups %v mapped to %q", g, c.Groups)
			}
		}
	})
}
