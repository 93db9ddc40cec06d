package server

import (
	"html/template"
	"net/http"
)

// forward is the handler for everything outside /_tokenhook/: package proxy
// decides the request's one identity (bearer, session, rules, WebSocket
// origin), removes client-sent headers that only tokenhook may set (the
// session assertion among them) and forwards it with the viewer's identity.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if s.upstream == nil {
		writeJSONError(w, http.StatusNotFound, "not_found", "no upstream is configured (--upstream)")
		return
	}
	s.upstream.ServeHTTP(w, r)
}

// isFrameNavigation reports whether r loads a page into an iframe (fetch
// metadata; browsers without it get the top-level behaviour).
func isFrameNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	d := r.Header.Get("Sec-Fetch-Dest")
	return (d == "iframe" || d == "frame") && r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

var embeddedTmpl = template.Must(template.New("embedded").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to continue · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 28rem; margin: 1rem; padding: 2rem; text-align: center; }
  h1 { font-size: 1.25rem; margin: 0 0 .5rem; }
</style>
</head>
<body>
<main>
  <h1>Sign in to continue</h1>
  <p>This dashboard opens its sign-in in a new window.</p>
</main>
{{.Script}}
</body>
</html>
`))

// renderEmbeddedSignIn answers an iframe navigation without a session: a page
// that runs the browser hook, which offers the popup sign-in and reloads the
// frame once the iframe holds its session (data-reload).
func (s *Server) renderEmbeddedSignIn(w http.ResponseWriter) {
	tag := template.HTML(s.bundle.ScriptTag("data-reload", "data-gate"))
	// The page may be framed (that is its purpose); it runs only our script.
	s.writePage(w, http.StatusUnauthorized, embeddedTmpl, struct{ Script template.HTML }{tag},
		"default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:")
}
