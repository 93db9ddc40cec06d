package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Envelope encrypts sessions for storage outside the process (files, Redis)
// with AES-256-GCM. The storage key is the additional data, so a sealed
// session moved to another key does not open. A store holding only sealed
// sessions reveals no token to whoever reads it.
type Envelope struct {
	aead cipher.AEAD
}

// NewEnvelope returns an Envelope for a 32-byte key. Derive the key from the
// cookie secret, so a copy of the store alone reveals nothing.
func NewEnvelope(key []byte) (*Envelope, error) {
	if len(key) != 32 {
		return nil, errors.New("session: store key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: gcm: %w", err)
	}
	return &Envelope{aead: aead}, nil
}

// Seal encodes and encrypts v for storage under key.
func (e *Envelope) Seal(key string, v *Session) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return e.seal(key, plain)
}

func (e *Envelope) seal(key string, plain []byte) ([]byte, error) {
	nonce := make([]byte, e.aead.NonceSize(), e.aead.NonceSize()+len(plain)+e.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session: nonce: %w", err)
	}
	return e.aead.Seal(nonce, nonce, plain, []byte(key)), nil
}

// Open decrypts what Seal returned for key. A box that does not open (another
// key, another cookie secret, damage), does not decode, or holds a session
// that ended before now gives ErrNotFound.
func (e *Envelope) Open(key string, box []byte, now time.Time) (*Session, error) {
	v, _, err := e.open(key, box)
	if err == nil && !v.Live(now) {
		return nil, ErrNotFound
	}
	return v, err
}

// open is Open without the lifetime check; it also returns the size of the
// plain text.
func (e *Envelope) open(key string, box []byte) (*Session, int, error) {
	plain, err := e.OpenBytes(key, box)
	if err != nil {
		return nil, 0, err
	}
	var v Session
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, 0, ErrNotFound
	}
	return &v, len(plain), nil
}

// SealBytes encrypts plain for storage under key (a value that is not a
// session, such as a session id waiting in a shared table).
func (e *Envelope) SealBytes(key string, plain []byte) ([]byte, error) { return e.seal(key, plain) }

// OpenBytes decrypts what SealBytes returned for key; a box that does not
// open gives ErrNotFound.
func (e *Envelope) OpenBytes(key string, box []byte) ([]byte, error) {
	if len(box) < e.aead.NonceSize() {
		return nil, ErrNotFound
	}
	nonce, sealed := box[:e.aead.NonceSize()], box[e.aead.NonceSize():]
	plain, err := e.aead.Open(nil, nonce, sealed, []byte(key))
	if err != nil {
		return nil, ErrNotFound
	}
	return plain, nil
}
