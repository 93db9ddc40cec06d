package session

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store that keeps sessions in process memory. Sessions end when
// the process does; use File to keep them across restarts.
type Memory struct {
	mu sync.RWMutex
	m  map[string]*Session
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: make(map[string]*Session)} }

func (s *Memory) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Load implements Store. It returns a copy, so callers may modify it freely.
func (s *Memory) Load(_ context.Context, key string) (*Session, error) {
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	if !ok || !v.Live(s.now()) {
		return nil, ErrNotFound
	}
	return v.Clone(), nil
}

// Save implements Store.
func (s *Memory) Save(_ context.Context, key string, v *Session) error {
	c := v.Clone()
	s.mu.Lock()
	s.m[key] = c
	s.mu.Unlock()
	return nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
	return nil
}

// Sweep removes ended sessions and returns how many it removed.
func (s *Memory) Sweep(context.Context) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.m {
		if !v.Live(now) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

// Find implements Finder.
func (s *Memory) Find(_ context.Context, sid, sub string) ([]string, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for k, v := range s.m {
		if v.Live(now) && v.matches(sid, sub) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Len is the number of sessions held (ended ones until the next Sweep).
func (s *Memory) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}
