// Package dash_test checks the Dash example without Dash (not installable
// here): app.py compiles, and its renderer wiring is exactly the snippet the
// real-renderer browser test in server/e2e runs.
package dash_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

// snippet is the renderer wiring server/e2e's Dash test loads into the real
// dash-renderer.
const snippet = "../../server/e2e/testdata/dash/renderer-hooks.js"

// inspect prints, as JSON, the string assigned to app.renderer and the
// external_scripts argument of the Dash(...) call in the file given as
// argv[1], read from its syntax tree (nothing is imported or run).
const inspect = `
import ast, json, sys
tree = ast.parse(open(sys.argv[1]).read(), sys.argv[1])
out = {"renderer": [], "external_scripts": []}
for node in ast.walk(tree):
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr == "renderer":
                out["renderer"].append(ast.literal_eval(node.value))
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Dash":
        for kw in node.keywords:
            if kw.arg == "external_scripts":
                out["external_scripts"] = ast.literal_eval(kw.value)
print(json.dumps(out))
`

func TestDashApp(t *testing.T) {
	exampletest.NeedPython(t)
	t.Run("compiles", func(t *testing.T) {
		cmd := exec.Command(exampletest.Python, "-m", "py_compile", "app.py")
		// Keep the bytecode out of the source tree.
		cmd.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("py_compile app.py: %v\n%s", err, out)
		}
	})

	out, err := exec.Command(exampletest.Python, "-B", "-c", inspect, "app.py").Output()
	if err != nil {
		t.Fatalf("inspect app.py: %v", err)
	}
	var got struct {
		Renderer        []string `json:"renderer"`
		ExternalScripts []any    `json:"external_scripts"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("inspect app.py: %v (%s)", err, out)
	}

	t.Run("renderer wiring is the tested snippet", func(t *testing.T) {
		want := snippetCode(t)
		if len(got.Renderer) != 1 {
			t.Fatalf("app.py assigns app.renderer %d times, want once", len(got.Renderer))
		}
		if got.Renderer[0] != want {
			t.Errorf("app.renderer = %q\nbut %s runs %q", got.Renderer[0], snippet, want)
		}
	})

	t.Run("loads tokenhook.js", func(t *testing.T) {
		if len(got.ExternalScripts) == 0 || got.ExternalScripts[0] != "/_tokenhook/tokenhook.js" {
			t.Errorf("external_scripts = %v, want /_tokenhook/tokenhook.js first", got.ExternalScripts)
		}
	})

	t.Run("requirements are pinned", func(t *testing.T) {
		b, err := os.ReadFile("requirements.txt")
		if err != nil {
			t.Fatal(err)
		}
		pinned := regexp.MustCompile(`^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$`)
		var dash bool
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !pinned.MatchString(line) {
				t.Errorf("requirement %q is not pinned to one version", line)
			}
			dash = dash || strings.HasPrefix(line, "dash==")
		}
		if !dash {
			t.Error("requirements.txt does not pin dash")
		}
	})
}

// snippetCode is the JavaScript of the snippet without its comment lines.
func snippetCode(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(snippet)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		code = append(code, line)
	}
	if len(code) == 0 {
		t.Fatalf("%s holds no code", snippet)
	}
	return strings.Join(code, "\n")
}
