package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Required reports whether a missing part fails the tests instead of
// skipping them: true when the environment variable CI is "true".
func Required() bool { return os.Getenv("CI") == "true" }

// Need is the one policy for a part a test needs from the machine (a browser,
// node, Python, R, redis-server, an npm fixture): when err is nil it returns;
// otherwise it skips the test on a developer's machine, and fails it when CI
// is "true", naming the part and why it is missing.
func Need(t testing.TB, part string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if Required() {
		t.Fatalf("%s is required when CI=true: %v", part, err)
	}
	t.Skipf("%s is missing: %v; skipping (CI=true makes this a failure)", part, err)
}

// NeedCommand returns the path of the first of names found in PATH (a name
// with a slash is taken as a path), or skips or fails the test as Need does.
func NeedCommand(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Need(t, names[len(names)-1], errors.New("none of "+strings.Join(names, ", ")+" is installed"))
	return ""
}
