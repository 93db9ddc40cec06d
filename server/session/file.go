package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
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
// encrypted with AES-256-GCM, and keeps decrypted sessions in memory so a
// lookup costs no disk access. Sessions survive a restart of the process that
// reopens the same directory with the same key. One process should own a
// directory at a time.
type File struct {
	dir   string
	aead  cipher.AEAD
	cache *Memory
}

// NewFile opens (creating if needed) a file store in dir. key must be 32 bytes;
// derive it from the cookie secret so a stolen data directory alone reveals
// nothing.
func NewFile(dir string, key []byte) (*File, error) {
	if len(key) != 32 {
		return nil, errors.New("session: file store key must be 32 bytes")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("session: create data dir: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: gcm: %w", err)
	}
	return &File{dir: dir, aead: aead, cache: NewMemory()}, nil
}

func (s *File) path(key string) (string, error) {
	// Keys are hex digests (see Key); refuse anything that could escape dir.
	if key == "" || len(key) > 128 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", fmt.Errorf("session: invalid key")
	}
	return filepath.Join(s.dir, key+".session"), nil
}

// Load implements Store.
func (s *File) Load(ctx context.Context, key string) (*Session, error) {
	if v, err := s.cache.Load(ctx, key); err == nil {
		return v, nil
	}
	v, err := s.read(key)
	if err != nil {
		return nil, err
	}
	_ = s.cache.Save(ctx, key, v)
	return v, nil
}

// read decrypts the session file of key, bypassing the memory cache. An
// ended session's file is removed.
func (s *File) read(key string) (*Session, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: open: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("session: read: %w", err)
	}
	if len(buf) > maxFileSize || len(buf) < s.aead.NonceSize() {
		return nil, ErrNotFound
	}
	nonce, box := buf[:s.aead.NonceSize()], buf[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, box, []byte(key))
	if err != nil {
		// Wrong key (cookie secret changed) or a damaged file: the session is gone.
		return nil, ErrNotFound
	}
	var v Session
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, ErrNotFound
	}
	if !v.Live(time.Now()) {
		_ = os.Remove(p)
		return nil, ErrNotFound
	}
	return &v, nil
}

// Save implements Store. The file is written to a temporary name and renamed,
// so a crash never leaves a half-written session.
func (s *File) Save(ctx context.Context, key string, v *Session) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("session: nonce: %w", err)
	}
	box := s.aead.Seal(nonce, nonce, plain, []byte(key))
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
	return s.cache.Save(ctx, key, v)
}

// Delete implements Store.
func (s *File) Delete(ctx context.Context, key string) error {
	_ = s.cache.Delete(ctx, key)
	p, err := s.path(key)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session: delete: %w", err)
	}
	return nil
}

// Sweep removes ended sessions (and files it cannot read) from disk and
// memory, and returns how many files it removed. It reads files without
// filling the memory cache.
func (s *File) Sweep(ctx context.Context) (int, error) {
	if _, err := s.cache.Sweep(ctx); err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("session: sweep: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".session") {
			continue
		}
		key := strings.TrimSuffix(name, ".session")
		if _, err := hex.DecodeString(key); err != nil {
			continue
		}
		if _, err := s.read(key); errors.Is(err, ErrNotFound) {
			if os.Remove(filepath.Join(s.dir, name)) == nil {
				n++
			}
		}
	}
	return n, nil
}
