package testenv

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// LogBuffer collects what concurrent writers (a server's logger, a child
// process's output) write, for a test to read with String. The zero value
// keeps everything; with Max > 0 it keeps the first Max bytes and drops the
// rest (enough to debug with, bounded for long browser runs).
type LogBuffer struct {
	// Max bounds the bytes kept; zero means no bound.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (or drops it once Max bytes are kept); it never fails.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max <= 0 || l.b.Len() < l.Max {
		l.b.Write(p)
	}
	return len(p), nil
}

// String returns what was kept so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ShowOnFailure returns a LogBuffer for what (a server's log, a child
// process's output) that keeps the first MiB and shows it, headed by what,
// when t has failed. Cleanups run last-registered first, so call it before
// registering the cleanup that stops the writer: the buffer is then shown
// complete.
func ShowOnFailure(t testing.TB, what string) *LogBuffer {
	l := &LogBuffer{Max: 1 << 20}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", what, l.String())
		}
	})
	return l
}

// Logger returns a text logger at debug level that writes into l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
