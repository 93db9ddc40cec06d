package htmlmin

import (
	"strings"
	"testing"
)

func TestMinify(t *testing.T) {
	in := []byte(`<!doctype html>
<html>
  <head>
    <title>  Sign in  </title>
    <style> body { color : red ; } </style>
    <script type="application/json" id="cfg"> { "a" : 1 } </script>
    <script> var  answer  =  40 + 2 ; </script>
  </head>
  <body>
    <p>  Hello,   <b>viewer</b>  </p>
  </body>
</html>`)
	out, err := Minify(in)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"<title>Sign in</title>", "body{color:red}", `{"a":1}`, "<b>viewer</b>", "</body>"} {
		if !strings.Contains(s, want) {
			t.Errorf("minified page lacks %q:\n%s", want, s)
		}
	}
	if len(out) >= len(in)*3/4 {
		t.Errorf("barely smaller: %d -> %d bytes", len(in), len(out))
	}
}
