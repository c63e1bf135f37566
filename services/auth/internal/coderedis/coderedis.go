// Package coderedis keeps one-time codes in Redis.
//
// A code lives in one hash per purpose and subject: the HMAC of the code (never the code
// itself, so a Redis dump yields nothing usable), the payload and the wrong tries left,
// under a TTL. The key holds an HMAC of the subject too, so email addresses do not show
// up in key names. Checking and spending run as Lua scripts, which Redis executes
// atomically: two concurrent tries cannot both spend one code, and wrong tries are
// counted without a lost update.
package coderedis

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/redis/go-redis/v9"

	"instant/services/auth/internal/user"
)

// Store implements user.Codes.
type Store struct {
	rdb      redis.UniversalClient
	key      []byte
	ttl      time.Duration
	attempts int
}

// New returns a Store whose codes live for ttl and die after attempts wrong tries. key
// is the HMAC key (at least 32 bytes); changing it invalidates every outstanding code.
func New(rdb redis.UniversalClient, key []byte, ttl time.Duration, attempts int) *Store {
	return &Store{rdb: rdb, key: key, ttl: ttl, attempts: attempts}
}

var _ user.Codes = (*Store)(nil)

// Issue creates a code and replaces any earlier one for the same purpose and subject.
func (s *Store) Issue(ctx context.Context, p user.Purpose, subject, payload string) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("issue code: random: %w", err)
	}
	code := fmt.Sprintf("%06d", n.Int64())
	k := s.recordKey(p, subject)
	_, err = s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Del(ctx, k)
		tx.HSet(ctx, k, "h", s.hash(p, subject, code), "p", payload, "n", s.attempts)
		tx.PExpire(ctx, k, s.ttl)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("issue code: %w: %w", user.ErrUnavailable, err)
	}
	return code, nil
}

// Check verifies code without spending it; a wrong code uses up one try.
func (s *Store) Check(ctx context.Context, p user.Purpose, subject, code string) (string, error) {
	return s.verify(ctx, p, subject, code, false)
}

// Take verifies and spends code in one atomic step.
func (s *Store) Take(ctx context.Context, p user.Purpose, subject, code string) (string, error) {
	return s.verify(ctx, p, subject, code, true)
}

// verifyScript answers {"ok", payload}, {"invalid"} or {"expired"}. A record with no
// tries left is deleted on the spot, so a dead code looks like an expired one.
var verifyScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'h', 'p', 'n')
if not rec[1] then
  return {'expired'}
end
local left = tonumber(rec[3])
if not left or left <= 0 then
  redis.call('DEL', KEYS[1])
  return {'expired'}
end
if rec[1] == ARGV[1] then
  if ARGV[2] == '1' then
    redis.call('DEL', KEYS[1])
  end
  return {'ok', rec[2] or ''}
end
if redis.call('HINCRBY', KEYS[1], 'n', -1) <= 0 then
  redis.call('DEL', KEYS[1])
end
return {'invalid'}
`)

func (s *Store) verify(ctx context.Context, p user.Purpose, subject, code string, spend bool) (string, error) {
	flag := "0"
	if spend {
		flag = "1"
	}
	res, err := verifyScript.Run(ctx, s.rdb, []string{s.recordKey(p, subject)}, s.hash(p, subject, code), flag).StringSlice()
	if err != nil {
		return "", fmt.Errorf("verify code: %w: %w", user.ErrUnavailable, err)
	}
	if len(res) == 0 {
		return "", errors.New("verify code: empty script answer")
	}
	switch res[0] {
	case "ok":
		if len(res) < 2 {
			return "", nil
		}
		return res[1], nil
	case "invalid":
		return "", user.ErrInvalidCode
	default:
		return "", user.ErrCodeExpired
	}
}

// recordKey names the record of a purpose and subject without revealing the subject.
func (s *Store) recordKey(p user.Purpose, subject string) string {
	return "auth:code:" + string(p) + ":" + s.mac("subject", string(p), subject)
}

// hash binds the code to its purpose and subject, so even a copied record cannot be
// reused under another key.
func (s *Store) hash(p user.Purpose, subject, code string) string {
	return s.mac("code", string(p), subject, code)
}

func (s *Store) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}
