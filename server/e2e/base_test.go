package e2e_test

import (
	"io"
	"net/http"
	"testing"
)

// TestBaseElement: a page whose <base href> points at another origin (the
// app's own markup, or HTML injected without script) sends its relative
// requests there; the hook's idea of "the page's own origin" is
// location.origin, so neither those nor absolute requests to that origin
// carry the token, while the page's real origin still gets it. The other
// server lets the page send Authorization (CORS), so a wrongly added header
// would arrive and be seen.
func TestBaseElement(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	doc := `<!doctype html><html><head><meta charset="utf-8"><title>base page</title>
<script src="` + e.Origin + `/_tokenhook/tokenhook.js"></script>
<base href="` + e.Other + `/">
<script>` + pageHelpers + `</script></head><body>based</body></html>`
	e.Mux.HandleFunc("GET /based", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, doc)
	})
	tab := e.signedInTab(t, "/dash")
	tab.Navigate(e.Origin + "/based")

	runHookCases(t, e, tab, e.OtherRec, []hookCase{
		{name: "relative fetch", js: post("api/b1", "b1", ""), path: "/api/b1", body: "b1", auth: ""},
		{name: "root-relative fetch", js: post("/api/b2", "b2", ""), path: "/api/b2", body: "b2", auth: ""},
		{name: "absolute fetch to the base origin", js: post(e.Other+"/api/b3", "b3", ""), path: "/api/b3", body: "b3", auth: ""},
		{name: "relative XHR", js: `xhr("POST", "api/b4", "b4")`, path: "/api/b4", body: "b4", auth: ""},
		{name: "relative Request", js: `fetch(new Request("api/b5", {method: "POST", body: "b5"}))`, path: "/api/b5", body: "b5", auth: ""},
	})
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "absolute fetch to the page's own origin", js: post(e.Origin+"/api/b6", "b6", ""), path: "/api/b6", body: "b6", auth: "token"},
	})
}
