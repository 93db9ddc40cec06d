// Package htmlmin minifies the HTML pages the server renders (sign-in
// notices, the iframe hand-over pages), with their inline CSS, JavaScript and
// JSON.
package htmlmin

import (
	"fmt"
	"regexp"

	"github.com/tdewolff/minify/v2"
	mcss "github.com/tdewolff/minify/v2/css"
	mhtml "github.com/tdewolff/minify/v2/html"
	mjs "github.com/tdewolff/minify/v2/js"
	mjson "github.com/tdewolff/minify/v2/json"
)

var (
	jsType   = regexp.MustCompile(`^(application|text)/(x-)?(java|ecma)script$`)
	jsonType = regexp.MustCompile(`[/+]json$`)
)

// Minify minifies an HTML page, including its inline CSS, JavaScript and
// JSON. Document tags and end tags are kept, so templates stay easy to read
// in a browser's view-source.
func Minify(page []byte) ([]byte, error) {
	m := minify.New()
	m.Add("text/html", &mhtml.Minifier{KeepDocumentTags: true, KeepEndTags: true})
	m.AddFunc("text/css", mcss.Minify)
	m.AddFuncRegexp(jsType, mjs.Minify)
	m.AddFuncRegexp(jsonType, mjson.Minify)
	out, err := m.Bytes("text/html", page)
	if err != nil {
		return nil, fmt.Errorf("htmlmin: %w", err)
	}
	return out, nil
}
