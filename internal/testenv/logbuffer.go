package testenv

import (
	"bytes"
	"sync"
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
