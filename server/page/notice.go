package page

import (
	"net/http"
	"strings"
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
	noticePage     = Must(Parse("notice", noticeHTML))
	noticeLinkPage = Must(Parse("notice-link", noticeLinkHTML))
)

// SignInNotice is Notice with a "Sign in again" button to link (sign-in,
// hand-over and connection pages).
func SignInNotice(w http.ResponseWriter, status int, title, message, link string) {
	Notice(w, status, title, message, link, "Sign in again")
}

// Notice writes tokenhook's notice page (sign-in notices and errors):
// title, message and, when link is a path on this origin, a button to it.
// Anything else in link is left out.
func Notice(w http.ResponseWriter, status int, title, message, link, button string) {
	vals := map[string]string{"title": title, "message": message, "link": link, "button": button}
	p := noticePage
	if strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "//") && !strings.HasPrefix(link, `/\`) {
		p = noticeLinkPage
	}
	Write(w, status, noticeCSP, p.Render(vals))
}
