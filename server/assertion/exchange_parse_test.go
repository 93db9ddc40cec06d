package assertion

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseExchangeRequest(t *testing.T) {
	ok := "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&subject_token=a.b.c&subject_token_type=" + url.QueryEscape(TokenType)
	for _, tc := range []struct {
		name, body, code, audience string
	}{
		{"valid", ok + "&audience=data", "", "data"},
		{"no audience", ok, "", ""},
		{"other grant", strings.Replace(ok, "token-exchange", "refresh_token", 1), "unsupported_grant_type", ""},
		{"access token as subject", strings.Replace(ok, url.QueryEscape(TokenType), url.QueryEscape(TokenTypeAccessToken), 1), "invalid_request", ""},
		{"empty subject token", strings.Replace(ok, "a.b.c", "", 1), "invalid_request", ""},
		{"audience twice", ok + "&audience=signin&audience=data", "invalid_request", ""},
		{"subject token twice", ok + "&subject_token=x.y.z", "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := url.ParseQuery(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req, perr := parseExchangeRequest(f)
			switch {
			case tc.code == "" && perr != nil:
				t.Fatalf("refused: %+v", perr)
			case tc.code != "" && (perr == nil || perr.code != tc.code):
				t.Fatalf("got %+v, want %s", perr, tc.code)
			case tc.code == "" && (req.audience != tc.audience || req.subjectToken != "a.b.c"):
				t.Fatalf("parsed %+v", req)
			}
		})
	}
}

// FuzzExchangeRequest: any form body parses without panicking; an accepted
// request is a token exchange of a session assertion with every parameter
// given once.
func FuzzExchangeRequest(f *testing.F) {
	ok := "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&subject_token=a.b.c&subject_token_type=" + url.QueryEscape(TokenType)
	for _, s := range []string{"", ok, ok + "&audience=data", ok + "&audience=a&audience=b", "grant_type=%zz", "a=1;b=2", ok + "&subject_token="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, perr := parseExchangeRequest(form)
		if perr != nil {
			if perr.code == "" || perr.desc == "" || req != (exchangeRequest{}) {
				t.Fatalf("error %+v with request %+v", perr, req)
			}
			return
		}
		if form.Get("grant_type") != GrantTokenExchange || form.Get("subject_token_type") != TokenType || req.subjectToken == "" {
			t.Fatalf("accepted %q", body)
		}
		for _, k := range []string{"grant_type", "subject_token", "subject_token_type", "audience"} {
			if len(form[k]) > 1 {
				t.Fatalf("accepted %s twice", k)
			}
		}
		if req.subjectToken != form.Get("subject_token") || req.audience != form.Get("audience") {
			t.Fatalf("parsed %+v from %q", req, body)
		}
	})
}
