package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/server/session"
)

// DefaultPrefix starts every key tokenhook writes, so it can share a Redis
// database with other applications.
const DefaultPrefix = "tokenhook:"

// keyPrefix is prefix, or DefaultPrefix when empty.
func keyPrefix(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	return prefix
}

// storeName names Redis in session.UnavailableError.
const storeName = "redis"

// Sessions is a session.Store and session.Finder in Redis. Each session is
// one string key holding the same sealed envelope as a session file, with
// the session's remaining lifetime as its TTL, so a dump of Redis holds no
// readable token. Two sets index the session keys by provider session id and
// by subject for back-channel logout; their members may outlive the
// sessions (Find skips and prunes them) and the sets expire with their
// longest-lived session.
//
// A Redis that cannot be reached gives *session.UnavailableError; a Redis
// that restarted empty gives session.ErrNotFound.
type Sessions struct{ sealed }

// NewSessions returns a store using c. key (32 bytes) seals the sessions;
// derive it from the cookie secret exactly as for the file store. prefix
// starts every key (empty means DefaultPrefix).
func NewSessions(c redis.UniversalClient, key []byte, prefix string) (*Sessions, error) {
	return newSealed[Sessions](c, key, prefix)
}

// sealed is what each store here that keeps sealed values holds: the
// client, the envelope sealing the values with the store key, the key
// prefix and the clock (replaced in tests).
type sealed struct {
	c      redis.UniversalClient
	env    *session.Envelope
	prefix string
	now    func() time.Time
}

// newSealed returns a store of type T (one of those built on sealed) on c.
func newSealed[T ~struct{ sealed }](c redis.UniversalClient, key []byte, prefix string) (*T, error) {
	env, err := session.NewEnvelope(key)
	if err != nil {
		return nil, err
	}
	s := T{sealed{c: c, env: env, prefix: keyPrefix(prefix), now: time.Now}}
	return &s, nil
}

func (s *Sessions) sessionKey(key string) string { return s.prefix + "s:" + key }

// liveKey names the sorted set of session keys scored by their expiry (in
// Unix milliseconds), which Count reads.
func (s *Sessions) liveKey() string { return s.prefix + "live" }

// indexKey names the set of sessions of one sid or sub; the value is hashed
// so the key's length is bounded and holds no identifier in clear.
func (s *Sessions) indexKey(kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return s.prefix + kind + ":" + hex.EncodeToString(sum[:16])
}

func unavailable(op string, err error) error {
	return &session.UnavailableError{Store: storeName, Op: op, Err: err}
}

// Load implements session.Store with one GET.
func (s *Sessions) Load(ctx context.Context, key string) (*session.Session, error) {
	box, err := s.c.Get(ctx, s.sessionKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("load", err)
	}
	return s.env.Open(key, box, s.now())
}

// addToIndex adds ARGV[1] to the set KEYS[1] and makes the set live at least
// ARGV[2] milliseconds (never shortening it). One key per call: safe on
// Cluster.
var addToIndex = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// Save implements session.Store: the session with its remaining lifetime
// as TTL, and its index entries, in one pipeline that also drops ended
// sessions from the live set.
func (s *Sessions) Save(ctx context.Context, key string, v *session.Session) error {
	box, err := s.env.Seal(key, v)
	if err != nil {
		return err
	}
	var ttl time.Duration // zero: no expiry
	if !v.ExpiresAt.IsZero() {
		if ttl = v.ExpiresAt.Sub(s.now()); ttl <= 0 {
			return s.Delete(ctx, key)
		}
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.sessionKey(key), box, ttl)
		// The live set is pruned here, not only by Count: without metrics
		// nothing counts, and ended sessions would pile up in it.
		p.ZRemRangeByScore(ctx, s.liveKey(), "-inf", "("+strconv.FormatInt(s.now().UnixMilli(), 10))
		until := math.Inf(1)
		if ttl > 0 {
			until = float64(v.ExpiresAt.UnixMilli())
		}
		p.ZAdd(ctx, s.liveKey(), redis.Z{Score: until, Member: key})
		ms := ttl.Milliseconds()
		if ttl == 0 {
			ms = int64(30 * 24 * time.Hour / time.Millisecond)
		}
		if v.SID != "" {
			addToIndex.Eval(ctx, p, []string{s.indexKey("sid", v.SID)}, key, ms)
		}
		if v.Subject != "" {
			addToIndex.Eval(ctx, p, []string{s.indexKey("sub", v.Subject)}, key, ms)
		}
		return nil
	})
	if err != nil {
		return unavailable("save", err)
	}
	return nil
}

// Delete implements session.Store. Index entries are left to Find and to
// their TTL.
func (s *Sessions) Delete(ctx context.Context, key string) error {
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.sessionKey(key))
		p.ZRem(ctx, s.liveKey(), key)
		return nil
	}); err != nil {
		return unavailable("delete", err)
	}
	return nil
}

// Count returns how many sessions are live (for the active-sessions
// metric): it drops the ended ones from the live set, then counts it. Two
// commands on one key, whatever the number of sessions.
func (s *Sessions) Count(ctx context.Context) (int, error) {
	var card *redis.IntCmd
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, s.liveKey(), "-inf", "("+strconv.FormatInt(s.now().UnixMilli(), 10))
		card = p.ZCard(ctx, s.liveKey())
		return nil
	}); err != nil {
		return 0, unavailable("count", err)
	}
	return int(card.Val()), nil
}

// Find implements session.Finder from the sid and sub indexes. Members whose
// session is gone are removed from the sets.
func (s *Sessions) Find(ctx context.Context, sid, sub string) ([]string, error) {
	var sets []string
	if sid != "" {
		sets = append(sets, s.indexKey("sid", sid))
	}
	if sub != "" {
		sets = append(sets, s.indexKey("sub", sub))
	}
	if len(sets) == 0 {
		return nil, nil
	}
	// The sets may live in different hash slots: intersect here.
	count := map[string]int{}
	for _, set := range sets {
		members, err := s.c.SMembers(ctx, set).Result()
		if err != nil {
			return nil, unavailable("find", err)
		}
		for _, m := range members {
			count[m]++
		}
	}
	var keys []string
	for k, n := range count {
		if n == len(sets) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	exists := make([]*redis.IntCmd, len(keys))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			exists[i] = p.Exists(ctx, s.sessionKey(k))
		}
		return nil
	}); err != nil {
		return nil, unavailable("find", err)
	}
	live := keys[:0]
	var gone []any
	for i, k := range keys {
		if exists[i].Val() == 1 {
			live = append(live, k)
		} else {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		for _, set := range sets {
			s.c.SRem(ctx, set, gone...) // best effort: the TTL cleans up too
		}
	}
	return live, nil
}

// Ping reports whether Redis answers, for readiness checks.
func (s *Sessions) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}
