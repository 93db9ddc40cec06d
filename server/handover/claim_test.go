package handover

import (
	"strings"
	"testing"
)

func TestParseClaim(t *testing.T) {
	ch, sec, code := randomString(16), randomString(32), randomString(32)
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"channel and secret", `{"channel":"` + ch + `","secret":"` + sec + `"}`, true},
		{"with a code", `{"channel":"` + ch + `","secret":"` + sec + `","code":"` + code + `"}`, true},
		{"short code", `{"channel":"` + ch + `","secret":"` + sec + `","code":"abc"}`, false},
		{"code with other characters", `{"channel":"` + ch + `","secret":"` + sec + `","code":"` + code[:42] + `/"}`, false},
		{"short secret", `{"channel":"` + ch + `","secret":"abc"}`, false},
		{"bad channel", `{"channel":"a/b","secret":"` + sec + `"}`, false},
		{"not JSON", `channel=x`, false},
		{"array", `[1]`, false},
		{"empty", ``, false},
	} {
		_, err := parseClaim([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// FuzzParseClaim: no input makes the claim parser panic, and whatever it
// accepts has a valid channel, a bounded secret and a valid or empty code.
func FuzzParseClaim(f *testing.F) {
	f.Add([]byte(`{"channel":"AAAAAAAAAAAAAAAAAAAAAAAA","secret":"` + strings.Repeat("s", 32) + `"}`))
	f.Add([]byte(`{"channel":"AAAAAAAAAAAAAAAAAAAAAAAA","secret":"` + strings.Repeat("s", 32) + `","code":"` + strings.Repeat("c", 43) + `"}`))
	f.Add([]byte(`{"channel":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseClaim(body)
		if err != nil {
			if req != (claimRequest{}) {
				t.Fatalf("a refused claim returned %+v", req)
			}
			return
		}
		if !ValidChannel(req.Channel) || len(req.Secret) < 32 || len(req.Secret) > 256 || req.Code != "" && !validCode(req.Code) {
			t.Fatalf("accepted an invalid claim %+v", req)
		}
	})
}
