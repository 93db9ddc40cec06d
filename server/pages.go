package server

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/tokenhook/tokenhook/internal/htmlmin"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 32rem; margin: 1rem; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.3rem; margin: 0 0 .75rem; }
  a.button { display: inline-block; margin-top: 1rem; padding: .55rem 1.1rem; border-radius: 8px; background: #2456d3; color: #fff; text-decoration: none; }
  a.button:focus { outline: 3px solid #9bb5f5; }
</style>
</head>
<body>
<main>
  <h1>{{.Title}}</h1>
  <p>{{.Message}}</p>
  {{if .Link}}<a class="button" href="{{.Link}}">{{.Button}}</a>{{end}}
</main>
</body>
</html>
`))

// renderPage writes a small, minified HTML page. title and message are
// escaped by html/template; link must be a same-origin path or "".
func (s *Server) renderPage(w http.ResponseWriter, status int, title, message, link string) {
	s.writePage(w, status, pageTmpl, struct{ Title, Message, Link, Button string }{title, message, link, "Sign in again"},
		"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
}

// renderRetry is the 503 page for a sign-in that cannot go on right now
// (the identity provider is unreachable): a "Try again" button to link (a
// same-origin path) and Retry-After.
func (s *Server) renderRetry(w http.ResponseWriter, title, message, link string) {
	w.Header().Set("Retry-After", "5")
	s.writePage(w, http.StatusServiceUnavailable, pageTmpl, struct{ Title, Message, Link, Button string }{title, message, link, "Try again"},
		"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
}

// writePage renders tmpl with data, minifies it and writes it with status
// and the Content-Security-Policy csp. Pages are never cached.
func (s *Server) writePage(w http.ResponseWriter, status int, tmpl *template.Template, data any, csp string) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		s.log.Error("render page", "page", tmpl.Name(), "err", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	out, err := htmlmin.Minify(buf.Bytes())
	if err != nil {
		out = buf.Bytes()
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(out)
}
