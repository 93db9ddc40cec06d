package session

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxFileSize bounds what File reads back from disk.
const maxFileSize = 1 << 20

// File is a Store that writes each session to its own file under a directory,
// sealed by an Envelope (AES-256-GCM), and keeps recently used sessions
// decrypted in a memory cache bounded in bytes, so a lookup usually costs no
// disk access and a million viewers do not fill the memory. Sessions survive
// a restart of the process that reopens the same directory with the same key.
// One process should own a directory at a time.
type File struct {
	dir   string
	env   *Envelope
	cache *lru
}

// NewFile opens (creating if needed) a file store in dir. key must be 32 bytes;
// derive it from the cookie secret so a stolen data directory alone reveals
// nothing. cacheBytes bounds the memory cache of decrypted sessions (least
// recently used ones are dropped and read from disk again when needed);
// zero means DefaultCacheBytes.
func NewFile(dir string, key []byte, cacheBytes int64) (*File, error) {
	env, err := NewEnvelope(key)
	if err != nil {
		return nil, err
	}
	if cacheBytes <= 0 {
		cacheBytes = DefaultCacheBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("session: create data dir: %w", err)
	}
	return &File{dir: dir, env: env, cache: newLRU(cacheBytes)}, nil
}

func (s *File) path(key string) (string, error) {
	// Keys are hex digests (see Key); refuse anything that could escape dir.
	if key == "" || len(key) > 128 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", fmt.Errorf("session: invalid key")
	}
	return filepath.Join(s.dir, key+".session"), nil
}

// Load implements Store.
func (s *File) Load(_ context.Context, key string) (*Session, error) {
	now := time.Now()
	if v, ok := s.cache.get(key, now); ok {
		return v, nil
	}
	stamp := s.cache.stamp()
	v, size, err := s.read(key, now)
	if err != nil {
		return nil, err
	}
	s.cache.fill(key, v, size, stamp)
	return v, nil
}

// read decrypts the session file of key, bypassing the memory cache, and
// returns the session and its plain-text size. An ended session's file is
// removed.
func (s *File) read(key string, now time.Time) (*Session, int, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("session: open: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("session: read: %w", err)
	}
	if len(buf) > maxFileSize {
		return nil, 0, ErrNotFound
	}
	// A box that does not open (cookie secret changed, damaged file): the
	// session is gone.
	v, size, err := s.env.open(key, buf)
	if err != nil {
		return nil, 0, err
	}
	if !v.Live(now) {
		_ = os.Remove(p)
		return nil, 0, ErrNotFound
	}
	return v, size, nil
}

// Save implements Store. The file is written to a temporary name and renamed,
// so a crash never leaves a half-written session.
func (s *File) Save(_ context.Context, key string, v *Session) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode: %w", err)
	}
	box, err := s.env.seal(key, plain)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("session: write: %w", err)
	}
	_, werr := tmp.Write(box)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("session: write: %w", errors.Join(werr, cerr))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("session: write: %w", err)
	}
	s.cache.put(key, v, len(plain))
	return nil
}

// Delete implements Store. The file goes before the cache entry, so a Load
// running meanwhile cannot cache the session again (see lru.fill).
func (s *File) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session: delete: %w", err)
	}
	s.cache.delete(key)
	return nil
}

// Sweep removes ended sessions (and files it cannot read) from disk and
// memory, and returns how many files it removed. It reads files without
// filling the memory cache.
func (s *File) Sweep(ctx context.Context) (int, error) {
	now := time.Now()
	s.cache.sweep(now)
	n := 0
	err := s.each(ctx, func(key string, _ *Session, err error) {
		if !errors.Is(err, ErrNotFound) {
			return
		}
		// read already removed an ended session's file; a damaged one is
		// removed here.
		if rm := os.Remove(filepath.Join(s.dir, key+".session")); rm == nil || errors.Is(rm, fs.ErrNotExist) {
			n++
		}
	}, now)
	return n, err
}

// Find implements Finder by reading every session file (without filling the
// memory cache): its cost grows with the number of sessions on disk, which
// is fine for the rare back-channel logout of a single-machine deployment.
func (s *File) Find(ctx context.Context, sid, sub string) ([]string, error) {
	var keys []string
	err := s.each(ctx, func(key string, v *Session, err error) {
		if err == nil && v.matches(sid, sub) {
			keys = append(keys, key)
		}
	}, time.Now())
	return keys, err
}

// each calls fn with every session file's key and its session or read error.
func (s *File) each(ctx context.Context, fn func(key string, v *Session, err error), now time.Time) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("session: list: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if !strings.HasSuffix(name, ".session") {
			continue
		}
		key := strings.TrimSuffix(name, ".session")
		if _, err := hex.DecodeString(key); err != nil {
			continue
		}
		v, _, err := s.read(key, now)
		fn(key, v, err)
	}
	return nil
}

// Count returns how many session files the store holds (for the
// active-sessions metric). It lists the directory without reading the
// files, so sessions that ended since the last Sweep (at most an hour) are
// counted too.
func (s *File) Count(_ context.Context) (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("session: list data dir: %w", err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".session") {
			n++
		}
	}
	return n, nil
}
