package testenv

import "crypto/rand"

// StoreKey returns a fresh random 32-byte key, the size the session
// stores' envelopes (session.NewEnvelope) seal with.
func StoreKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}
