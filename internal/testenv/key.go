package testenv

import (
	"crypto/rand"
	"encoding/hex"
)

// StoreKey returns a fresh random 32-byte key, the size the session
// stores' envelopes (session.NewEnvelope) seal with.
func StoreKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// RandomHex returns n random bytes in hex (2n characters), for the
// secrets and passwords of a test's setup.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
