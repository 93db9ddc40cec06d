package dpop

import "github.com/tokenhook/tokenhook/server/once"

// ReplayCache remembers keys for a while, so a proof is accepted once:
// package once's Store (UseOnce records a key for a ttl and reports whether
// it was new; two concurrent calls with one key never both see true; an
// error means the answer is unknown and the proof is refused). Replicas
// behind one load balancer must share one store (the Redis once store).
type ReplayCache = once.Store

// DefaultReplayCacheSize is the capacity of the in-memory replay cache a
// Verifier makes when Config.Replay is nil (a once.Memory: full, it forgets
// its oldest key and never refuses a new one): room for a thousand proofs a
// second over the default window; under 20 MB when full.
const DefaultReplayCacheSize = 1 << 17
