package page

import (
	"net/http/httptest"
	"strings"
	"testing"
)

const testHTML = `<!doctype html>
<html lang="en">
<head>
<title>{{title}} · tokenhook</title>
<style>  body { color : red ; }  </style>
</head>
<body>
  <p>  {{message}}  </p>
  <a class="button" href="{{link}}">Go</a>
  <input type="hidden" name="code" value="{{code}}">
</body>
</html>
`

func TestParseRefusesUnsafeSlots(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"script", `<p>x</p><script>var a = "{{a}}";</script>`},
		{"style", `<style>p { color: {{a}} }</style>`},
		{"script attributes", `<script nonce="n">{{a}}</script>`},
		{"unclosed", `<p>{{a</p>`},
		{"part of an attribute", `<a href="/x/{{a}}">x</a>`},
		{"unquoted attribute", `<a href={{a}}>x</a>`},
		{"bad name", `<p>{{a b}}</p>`},
	} {
		if _, err := Parse(tc.name, tc.src); err == nil {
			t.Errorf("%s: Parse accepted %q", tc.name, tc.src)
		}
	}
	if _, err := Parse("after script", `<script nonce="{{n}}">var a = 1;</script><p>{{a}}</p>`); err != nil {
		t.Errorf("a slot in a script's attribute or after it: %v", err)
	}
}

func TestRenderEscapes(t *testing.T) {
	p := Must(Parse("test", testHTML))
	hostile := `"><script>alert(1)</script><a href='x'>&amp;`
	out := string(p.Render(map[string]string{"title": hostile, "message": hostile, "link": hostile, "code": hostile}))
	if strings.Contains(out, "<script") || strings.Contains(out, hostile) || strings.Contains(out, "'x'") {
		t.Fatalf("a value broke out of its place:\n%s", out)
	}
	if got := strings.Count(out, "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&#39;x&#39;&gt;&amp;amp;"); got != 4 {
		t.Errorf("escaped value found %d times, want 4:\n%s", got, out)
	}
	for _, want := range []string{`href="&#34;`, `value="&#34;`, "body{color:red}", "<p>&#34;"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q (minified, quoted attributes):\n%s", want, out)
		}
	}
}

func TestRenderMissingSlotIsEmpty(t *testing.T) {
	p := Must(Parse("test", testHTML))
	out := string(p.Render(map[string]string{"title": "Hi"}))
	if !strings.Contains(out, "<title>Hi · tokenhook</title>") || !strings.Contains(out, `value=""`) || strings.Contains(out, "{{") {
		t.Errorf("render with missing values:\n%s", out)
	}
}

func TestWriteHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, 403, "default-src 'none'", []byte("<p>no</p>"))
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if rec.Code != 403 || rec.Body.String() != "<p>no</p>" {
		t.Errorf("answer %d %q", rec.Code, rec.Body.String())
	}
}
