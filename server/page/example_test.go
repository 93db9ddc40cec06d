package page_test

import (
	"fmt"

	"github.com/tokenhook/tokenhook/server/page"
)

func Example() {
	notice := page.Must(page.Parse("notice", `<!doctype html>
<html>
<body>
  <h1>  {{title}}  </h1>
  <a href="{{link}}">Sign in again</a>
</body>
</html>`))
	fmt.Println(string(notice.Render(map[string]string{"title": "Signed <out>", "link": "/_tokenhook/login"})))
	// Output: <!doctype html><html><body><h1>Signed &lt;out&gt;</h1><a href="/_tokenhook/login">Sign in again</a></body></html>
}
