package main

import (
	"bytes"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxBinaryBytes is the size budget of the product binary, built the way a
// release is built (make build: -trimpath -ldflags='-s -w'): 19.4 MB today.
// What keeps it there is the linker's dead-method elimination (see
// TestBinaryIsLean); losing it costs about 7.5 MB, most of it the Redis
// client's command set.
const maxBinaryBytes = 25_000_000

// TestBinaryIsLean builds the product binary as a release is built and checks
// that it links no identity provider (the demo's Dex and the tests' zitadel OP
// live in cmd/tokenhook-demo and internal/), that the linker could drop unused
// methods, and that it stays within its size budget.
//
// The linker keeps every exported method of every type stored in an
// interface once a method called through reflection by a name it cannot see
// is reachable (a <ReflectMethod> symbol in -ldflags=-dumpdep): html/template
// and text/template do that, and so did protobuf v1.36.11's descriptor
// formatter by way of Go 1.26's reflect.Value.Methods. The server's pages
// are therefore rendered by package server/page, not html/template.
func TestBinaryIsLean(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "tokenhook")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -dumpdep", "-o", bin, ".")
	var deps bytes.Buffer
	cmd.Stdout, cmd.Stderr = &deps, &deps
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%.4000s", err, deps.String())
	}
	var reflectMethods []string
	for line := range strings.Lines(deps.String()) {
		if strings.Contains(line, "<ReflectMethod>") && len(reflectMethods) < 20 {
			reflectMethods = append(reflectMethods, strings.TrimSpace(line))
		}
	}
	if len(reflectMethods) > 0 {
		t.Errorf("the linker cannot drop unused methods; it reaches a call of a method by a computed name:\n%s", strings.Join(reflectMethods, "\n"))
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range info.Deps {
		for _, banned := range []string{"github.com/dexidp/", "github.com/zitadel/"} {
			if strings.HasPrefix(dep.Path, banned) {
				t.Errorf("the product binary links %s %s", dep.Path, dep.Version)
			}
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tokenhook binary: %d bytes (%.1f MB), %d modules", st.Size(), float64(st.Size())/1e6, len(info.Deps))
	if st.Size() > maxBinaryBytes {
		t.Errorf("the product binary is %d bytes, over the budget of %d", st.Size(), maxBinaryBytes)
	}
}
