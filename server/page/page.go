// Package page renders the server's small HTML pages (sign-in notices, the
// iframe hand-over pages): each page is fixed HTML, minified once when it is
// parsed, whose named slots are filled with HTML-escaped text.
//
// It replaces html/template on purpose: text/template reaches methods by
// name through reflection, which makes the linker keep every exported method
// of every reachable type (megabytes of the Redis client's commands).
package page

import (
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/internal/htmlmin"
)

// Template is a minified HTML page with named slots. It is immutable and
// safe for concurrent use.
type Template struct {
	name  string
	parts []string // len(slots)+1 pieces of fixed HTML around the slots
	slots []string
}

// Parse minifies src once and splits it at its slots, written {{name}}. A
// slot may stand in text or as the whole of a double-quoted attribute value
// (name="{{slot}}"); Parse refuses a slot inside <script> or <style>, where
// HTML escaping is not enough, and a page the minifier changed around a slot.
func Parse(name, src string) (*Template, error) {
	before := 0
	for i := strings.Index(src, "{{"); i >= 0; i = next(src, i) {
		before++
		switch {
		case inTag(src[:i]):
			if !strings.HasSuffix(src[:i], `="`) || !strings.HasPrefix(src[strings.Index(src[i:], "}}")+i+2:], `"`) {
				return nil, fmt.Errorf("page %s: slot at byte %d is in a tag but not a whole quoted attribute value", name, i)
			}
		case inRawText(src[:i]):
			return nil, fmt.Errorf("page %s: slot at byte %d is inside <script> or <style>", name, i)
		}
	}
	min, err := htmlmin.Minify([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", name, err)
	}
	t := &Template{name: name}
	rest := string(min)
	quote := "" // the minifier drops an attribute's quotes; they come back
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			break
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("page %s: unclosed slot", name)
		}
		slot := rest[open+2 : open+end]
		if slot == "" || strings.ContainsAny(slot, " \t\n<>\"'{}=") {
			return nil, fmt.Errorf("page %s: bad slot name %q", name, slot)
		}
		q := ""
		if strings.HasSuffix(rest[:open], "=") {
			q = `"`
		}
		t.parts = append(t.parts, quote+rest[:open]+q)
		t.slots = append(t.slots, slot)
		rest, quote = rest[open+end+2:], q
	}
	t.parts = append(t.parts, quote+rest)
	if len(t.slots) != before {
		return nil, fmt.Errorf("page %s: %d slots before minifying, %d after", name, before, len(t.slots))
	}
	return t, nil
}

// next is the index of the slot after the one at i, or -1.
func next(src string, i int) int {
	j := strings.Index(src[i+2:], "{{")
	if j < 0 {
		return -1
	}
	return i + 2 + j
}

// inTag reports whether the end of prefix lies inside a tag (between its <
// and >).
func inTag(prefix string) bool {
	return strings.LastIndex(prefix, "<") > strings.LastIndex(prefix, ">")
}

// inRawText reports whether the end of prefix lies in the content of a
// <script> or <style> element.
func inRawText(prefix string) bool {
	lower := strings.ToLower(prefix)
	for _, tag := range []string{"script", "style"} {
		if strings.LastIndex(lower, "<"+tag) > strings.LastIndex(lower, "</"+tag) {
			return true
		}
	}
	return false
}

// Must returns t, and panics if err is not nil; for pages parsed at
// start-up from constant HTML.
func Must(t *Template, err error) *Template {
	if err != nil {
		panic(err)
	}
	return t
}

// Render returns the page with every slot replaced by
// html.EscapeString(vals[slot]); a slot missing from vals is left empty.
func (t *Template) Render(vals map[string]string) []byte {
	n := 0
	for _, p := range t.parts {
		n += len(p)
	}
	for _, s := range t.slots {
		n += len(vals[s]) * 2
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range t.slots {
		b.WriteString(t.parts[i])
		b.WriteString(html.EscapeString(vals[s]))
	}
	b.WriteString(t.parts[len(t.parts)-1])
	return []byte(b.String())
}

// Write writes body as an HTML page with status and the
// Content-Security-Policy csp. Pages are never cached, never sniffed and
// send no referrer.
func Write(w http.ResponseWriter, status int, csp string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(body)
}
