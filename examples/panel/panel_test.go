// Package panel_test checks the Panel example without Panel (not installable
// here): app.py must compile and read the forwarded identity from the
// session's request headers.
package panel_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

func TestPanelApp(t *testing.T) {
	exampletest.NeedPython(t)
	cmd := exec.Command(exampletest.Python, "-m", "py_compile", "app.py")
	cmd.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("py_compile app.py: %v\n%s", err, out)
	}
	src, err := os.ReadFile("app.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pn.state.headers", `"X-Forwarded-Email"`, ".servable()"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("app.py does not use %s", want)
		}
	}
}
