package exampletest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartEndsTheAppsChildren: an app that starts a process of its own
// (as Dash's FastAPI backend starts uvicorn) leaves nothing running once
// its test is over.
func TestStartEndsTheAppsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	t.Run("app", func(t *testing.T) {
		Start(t, t.TempDir(), nil, "/bin/sh", "-c", `sleep 300 & echo $! > "$0"; wait`, pidFile)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the app did not start its child")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Killed, the orphan is reaped by init soon after.
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the app's child %d outlived the test", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
