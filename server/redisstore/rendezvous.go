package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/server/rendezvous"
)

// Rendezvous is a rendezvous.Store in Redis: a popup sign-in completed on
// one replica is claimed by its frame on any replica. Each channel is one
// hash with a TTL; every step is one Lua script, so two replicas never both
// claim a channel. The session id waits sealed (AES-GCM, as sessions are)
// and the one-time code is kept as its SHA-256, so a dump of Redis holds
// nothing a viewer's browser could use.
//
// A Claim waits by polling the channel with back-off (25 ms doubling to
// 250 ms), one command per poll, until the sign-in is claimable or the
// wait is over.
type Rendezvous struct{ sealed }

// NewRendezvous returns a Rendezvous on c. key (32 bytes) seals the session
// ids; prefix starts every key (empty means DefaultPrefix).
func NewRendezvous(c redis.UniversalClient, key []byte, prefix string) (*Rendezvous, error) {
	return newSealed[Rendezvous](c, key, prefix)
}

// The claim's polling back-off.
const (
	rvPollFirst = 25 * time.Millisecond
	rvPollMax   = 250 * time.Millisecond
)

func (s *Rendezvous) key(channel string) string { return s.prefix + "rv:" + hashHex(channel) }

func hashHex(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// completeScript: KEYS[1] the channel; ARGV challenge, sealed session id,
// code hash, deadline (unix ms), key TTL (ms). 0 when the channel exists.
var completeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'ch', ARGV[1], 'sid', ARGV[2], 'code', ARGV[3], 'dl', ARGV[4], 'conf', '0', 'claimed', '0', 'fail', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// liveCheck is the common head of confirm and claim: it answers
// "pending" (no channel), "expired" or "claimed".
var liveCheck = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'pending' end
local f = redis.call('HMGET', KEYS[1], 'ch', 'code', 'dl', 'conf', 'claimed')
if tonumber(f[3]) <= tonumber(ARGV[1]) then return 'expired' end
if f[5] == '1' then return 'claimed' end
local function fail()
  if redis.call('HINCRBY', KEYS[1], 'fail', 1) >= ` + strconv.Itoa(rendezvous.MaxFailures) + ` then redis.call('HSET', KEYS[1], 'dl', '0') end
  return 'wrong'
end
`

// confirmScript: ARGV now (unix ms), code hash, "1" for yes.
var confirmScript = redis.NewScript(liveCheck + `
if f[2] ~= ARGV[2] then return fail() end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'conf', '1') else redis.call('HSET', KEYS[1], 'dl', '0') end
return 'ok'
`)

// claimScript: ARGV now (unix ms), challenge of the secret, code hash or "".
// It answers the sealed session id once claimed.
var claimScript = redis.NewScript(liveCheck + `
if f[1] ~= ARGV[2] then return fail() end
if ARGV[3] ~= '' and f[2] ~= ARGV[3] then return fail() end
if ARGV[3] == '' and f[4] ~= '1' then return 'pending' end
local sid = redis.call('HGET', KEYS[1], 'sid')
redis.call('HSET', KEYS[1], 'claimed', '1')
redis.call('HDEL', KEYS[1], 'sid', 'code')
return {sid}
`)

// scriptError maps a script's answer to the rendezvous errors.
func scriptError(answer string) error {
	switch answer {
	case "ok":
		return nil
	case "pending":
		return rendezvous.ErrPending
	case "expired":
		return rendezvous.ErrExpired
	case "claimed":
		return rendezvous.ErrClaimed
	case "wrong":
		return rendezvous.ErrWrongSecret
	}
	return fmt.Errorf("redisstore: rendezvous script answered %q", answer)
}

// Complete implements rendezvous.Store.
func (s *Rendezvous) Complete(ctx context.Context, channel, challenge, sessionID, code string, ttl time.Duration) error {
	k := s.key(channel)
	box, err := s.env.SealBytes(k, []byte(sessionID))
	if err != nil {
		return err
	}
	dl := s.now().Add(ttl).UnixMilli()
	n, err := completeScript.Run(ctx, s.c, []string{k}, challenge, box, hashHex(code), dl, (ttl + rendezvous.KeepExpired).Milliseconds()).Int()
	switch {
	case err != nil:
		return unavailable("rendezvous complete", err)
	case n == 0:
		return rendezvous.ErrClaimed
	}
	return nil
}

// Confirm implements rendezvous.Store.
func (s *Rendezvous) Confirm(ctx context.Context, channel, code string, yes bool) error {
	answer, err := confirmScript.Run(ctx, s.c, []string{s.key(channel)}, s.now().UnixMilli(), hashHex(code), map[bool]string{true: "1", false: "0"}[yes]).Text()
	if err != nil {
		return unavailable("rendezvous confirm", err)
	}
	if answer == "pending" {
		return rendezvous.ErrExpired // nothing to confirm: no such sign-in
	}
	return scriptError(answer)
}

// Claim implements rendezvous.Store.
func (s *Rendezvous) Claim(ctx context.Context, channel, secret, code string, wait time.Duration) (string, error) {
	k := s.key(channel)
	codeHash := ""
	if code != "" {
		codeHash = hashHex(code)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for pause := rvPollFirst; ; pause = min(pause*2, rvPollMax) {
		id, err := s.claimOnce(ctx, k, rendezvous.Challenge(secret), codeHash)
		if !errors.Is(err, rendezvous.ErrPending) {
			return id, err
		}
		select {
		case <-time.After(pause):
		case <-t.C:
			return "", rendezvous.ErrPending
		case <-ctx.Done():
			return "", rendezvous.ErrPending
		}
	}
}

func (s *Rendezvous) claimOnce(ctx context.Context, k, challenge, codeHash string) (string, error) {
	v, err := claimScript.Run(ctx, s.c, []string{k}, s.now().UnixMilli(), challenge, codeHash).Result()
	if err != nil {
		if ctx.Err() != nil {
			return "", rendezvous.ErrPending
		}
		return "", unavailable("rendezvous claim", err)
	}
	switch v := v.(type) {
	case string:
		return "", scriptError(v)
	case []any:
		if len(v) == 1 {
			if box, ok := v[0].(string); ok {
				id, err := s.env.OpenBytes(k, []byte(box))
				if err != nil {
					return "", rendezvous.ErrExpired
				}
				return string(id), nil
			}
		}
	}
	return "", fmt.Errorf("redisstore: rendezvous claim answered %T", v)
}
