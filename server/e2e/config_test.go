package e2e_test

import (
	"fmt"
	"testing"
)

// TestConfiguration drives the script's options in the browser: token sources
// the app owns (storage, cookie, a function), header name and scheme, methods
// from window.TokenHookConfig, path include/exclude and overwrite. No sign-in:
// these tokens come from the app, so the server is only asked for the script.
func TestConfiguration(t *testing.T) {
	e := newEnv(t, envOptions{})
	tab := browser.Tab(t)
	future := `Math.floor(Date.now() / 1000) + 3600`

	tests := []struct {
		name, before, attrs, body string
		cases                     []hookCase
	}{
		{
			name:  "localStorage raw token, read on every request",
			attrs: attr("data-source", "localStorage:app_token"),
			cases: []hookCase{
				{name: "first value", js: `(localStorage.setItem("app_token", "ls-1"), ` + post("/api/ls1", "a", "") + `)`, path: "/api/ls1", body: "a", auth: "Bearer ls-1"},
				{name: "app replaced it", js: `(localStorage.setItem("app_token", "ls-2"), ` + post("/api/ls2", "b", "") + `)`, path: "/api/ls2", body: "b", auth: "Bearer ls-2"},
				{name: "app removed it", js: `(localStorage.removeItem("app_token"), ` + post("/api/ls3", "c", "") + `)`, path: "/api/ls3", body: "c", auth: ""},
			},
		},
		{
			name:  "sessionStorage JSON token",
			attrs: attr("data-source", "sessionStorage:auth"),
			cases: []hookCase{
				{name: "access_token field", js: `(sessionStorage.setItem("auth", JSON.stringify({access_token: "ss-1", expires_at: ` + future + `})), ` + post("/api/ss", "d", "") + `)`, path: "/api/ss", body: "d", auth: "Bearer ss-1"},
			},
		},
		{
			name:  "cookie token",
			attrs: attr("data-source", "cookie:app_jwt"),
			cases: []hookCase{
				{name: "cookie value", js: `(document.cookie = "app_jwt=ck-1; path=/", ` + post("/api/ck", "e", "") + `)`, path: "/api/ck", body: "e", auth: "Bearer ck-1"},
			},
		},
		{
			name:   "custom token function",
			before: `window.TokenHookConfig = {token: function () { return Promise.resolve({access_token: "fn-1", expires_at: ` + future + `}); }};`,
			cases: []hookCase{
				{name: "function result", js: post("/api/fn", "f", ""), path: "/api/fn", body: "f", auth: "Bearer fn-1"},
			},
		},
		{
			name:  "header name and empty scheme",
			attrs: attr("data-source", "localStorage:k") + " " + attr("data-header", "X-Api-Token") + " " + attr("data-scheme", ""),
			cases: []hookCase{
				{name: "bare token in X-Api-Token", js: `(localStorage.setItem("k", "raw-1"), ` + post("/api/hdr", "g", "") + `)`, path: "/api/hdr", body: "g", auth: "", headers: map[string]string{"X-Api-Token": "raw-1"}},
			},
		},
		{
			name:   "methods from TokenHookConfig",
			before: `window.TokenHookConfig = {methods: ["PUT"], token: function () { return "m-1"; }};`,
			cases: []hookCase{
				{name: "PUT decorated", js: `fetch("/api/m-put", {method: "PUT", body: "h"})`, path: "/api/m-put", body: "h", auth: "Bearer m-1"},
				{name: "POST not", js: post("/api/m-post", "i", ""), path: "/api/m-post", body: "i", auth: ""},
			},
		},
		{
			name:  "include and exclude paths",
			attrs: attr("data-source", "localStorage:k") + " " + attr("data-include", "/api/private/**") + " " + attr("data-exclude", "/api/private/open"),
			cases: []hookCase{
				{name: "included", js: `(localStorage.setItem("k", "p-1"), ` + post("/api/private/deep/x", "j", "") + `)`, path: "/api/private/deep/x", body: "j", auth: "Bearer p-1"},
				{name: "excluded", js: post("/api/private/open", "k", ""), path: "/api/private/open", body: "k", auth: ""},
				{name: "not included", js: post("/api/public", "l", ""), path: "/api/public", body: "l", auth: ""},
			},
		},
		{
			name:  "overwrite the app's own header",
			attrs: attr("data-source", "localStorage:k") + " " + attr("data-overwrite", "true"),
			cases: []hookCase{
				{name: "replaced", js: `(localStorage.setItem("k", "o-1"), ` + post("/api/ow", "m", `, headers: {Authorization: "Bearer app-own"}`) + `)`, path: "/api/ow", body: "m", auth: "Bearer o-1"},
			},
		},
		{
			name:  "script loaded twice wraps once",
			attrs: attr("data-source", "localStorage:k"),
			body:  `<script src="/_tokenhook/tokenhook.js" data-source="localStorage:k"></script>`,
			cases: []hookCase{
				{name: "one header value", js: `(localStorage.setItem("k", "twice-1"), ` + post("/api/twice", "n", "") + `)`, path: "/api/twice", body: "n", auth: "Bearer twice-1"},
				{name: "XHR one header value", js: `xhr("POST", "/api/twice-xhr", "o")`, path: "/api/twice-xhr", body: "o", auth: "Bearer twice-1"},
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/cfg%d", i)
			e.pageWith(path, tt.before, tt.attrs, tt.body)
			tab.Navigate(e.Origin + path)
			runHookCases(t, e, tab, e.Backend, tt.cases)
		})
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("browser errors: %q", errs)
	}
}
