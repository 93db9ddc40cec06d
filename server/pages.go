package server

import (
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/server/page"
)

// The notice page (sign-in notices and errors), without and with a button.
const (
	noticeHead = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · tokenhook</title>
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
  <h1>{{title}}</h1>
  <p>{{message}}</p>
`
	noticeTail = `</main>
</body>
</html>
`
	noticeHTML     = noticeHead + noticeTail
	noticeLinkHTML = noticeHead + `  <a class="button" href="{{link}}">{{button}}</a>
` + noticeTail
)

// noticeCSP is the Content-Security-Policy of the notice pages.
const noticeCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

var (
	noticePage     = page.Must(page.Parse("notice", noticeHTML))
	noticeLinkPage = page.Must(page.Parse("notice-link", noticeLinkHTML))
)

// renderPage writes a small, minified HTML page. title and message are
// escaped; link must be a same-origin path or "" (anything else is left out).
func (s *Server) renderPage(w http.ResponseWriter, status int, title, message, link string) {
	writeNotice(w, status, title, message, link, "Sign in again")
}

// renderRetry is the 503 page for a sign-in that cannot go on right now
// (the identity provider is unreachable): a "Try again" button to link (a
// same-origin path) and Retry-After.
func (s *Server) renderRetry(w http.ResponseWriter, title, message, link string) {
	w.Header().Set("Retry-After", "5")
	writeNotice(w, http.StatusServiceUnavailable, title, message, link, "Try again")
}

// writeNotice writes the notice page, with a button to link when link is a
// path on this origin.
func writeNotice(w http.ResponseWriter, status int, title, message, link, button string) {
	vals := map[string]string{"title": title, "message": message, "link": link, "button": button}
	p := noticePage
	if strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "//") && !strings.HasPrefix(link, `/\`) {
		p = noticeLinkPage
	}
	page.Write(w, status, noticeCSP, p.Render(vals))
}
