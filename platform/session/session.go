// Package session is the contract for sign-in sessions in Redis, shared by auth (which
// creates and revokes them) and the gateway (which resolves one on every request).
//
// A session id is 256 random bits, shown to the client once and never stored: Redis keeps
// only its SHA-256, so a dump of Redis does not hand out live sessions. A session has an
// idle timeout (the key's TTL, renewed on use) and an absolute lifetime (in the value), and
// every session of a user is listed in a per-user set so logout-all and account deletion
// revoke them at once.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound means the session does not exist, expired or was revoked.
var ErrNotFound = errors.New("session: not found")

// CookieName is the cookie that carries the session id (the original API's clients use it).
const CookieName = "session_id"

// Store reads and writes sessions.
type Store struct {
	rdb      redis.UniversalClient
	idle     time.Duration
	lifetime time.Duration
	now      func() time.Time
}

// NewStore returns a Store with the given idle timeout and absolute lifetime.
func NewStore(rdb redis.UniversalClient, idle, lifetime time.Duration) *Store {
	return &Store{rdb: rdb, idle: idle, lifetime: lifetime, now: time.Now}
}

// Session is what a resolved session says.
type Session struct {
	UserID    string
	ExpiresAt time.Time // absolute end of life
}

func key(hash string) string { return "session:" + hash }

// Key is the Redis key of the session with the given id. The gateway reads it inside a
// script that also charges the rate limit, to resolve a request in one round trip.
func Key(id string) string       { return key(Hash(id)) }
func userKey(user string) string { return "user_sessions:" + user }

// Hash returns the stored form of a session id.
func Hash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Create starts a session for userID and returns its id (to give the client) and expiry.
func (s *Store) Create(ctx context.Context, userID string) (string, time.Time, error) {
	if strings.ContainsRune(userID, '|') || userID == "" {
		return "", time.Time{}, errors.New("session: invalid user id")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, fmt.Errorf("session: random: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	h := Hash(id)
	exp := s.now().Add(s.lifetime)
	idle := min(s.idle, s.lifetime)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key(h), userID+"|"+strconv.FormatInt(exp.Unix(), 10), idle)
		p.SAdd(ctx, userKey(userID), h)
		p.Expire(ctx, userKey(userID), s.lifetime)
		return nil
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("session: create: %w", err)
	}
	return id, exp, nil
}

// Resolve returns the session for id and renews its idle timeout, in one round trip
// (GETEX). ErrNotFound for unknown, idle-expired or past-lifetime sessions; any other
// error means Redis could not answer, which callers must treat as unavailable, not as
// "signed out".
func (s *Store) Resolve(ctx context.Context, id string) (Session, error) {
	if id == "" || len(id) > 256 {
		return Session{}, ErrNotFound
	}
	v, err := s.rdb.GetEx(ctx, key(Hash(id)), s.idle).Result()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: resolve: %w", err)
	}
	return Decode(v, s.now())
}

// Decode reads a stored session value ("<user id>|<absolute expiry unix>") and refuses it
// once past its absolute lifetime.
func Decode(v string, now time.Time) (Session, error) {
	user, expStr, ok := strings.Cut(v, "|")
	unix, perr := strconv.ParseInt(expStr, 10, 64)
	if !ok || perr != nil || user == "" {
		return Session{}, ErrNotFound
	}
	exp := time.Unix(unix, 0)
	if !now.Before(exp) {
		return Session{}, ErrNotFound
	}
	return Session{UserID: user, ExpiresAt: exp}, nil
}

// Revoke ends one session. Revoking an unknown session is not an error.
func (s *Store) Revoke(ctx context.Context, id string) error {
	h := Hash(id)
	v, err := s.rdb.Get(ctx, key(h)).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	user, _, _ := strings.Cut(v, "|")
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key(h))
		p.SRem(ctx, userKey(user), h)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	return nil
}

// RevokeAll ends every session of a user (logout-all, account deletion).
func (s *Store) RevokeAll(ctx context.Context, userID string) error {
	hashes, err := s.rdb.SMembers(ctx, userKey(userID)).Result()
	if err != nil {
		return fmt.Errorf("session: revoke all: %w", err)
	}
	keys := make([]string, 0, len(hashes)+1)
	for _, h := range hashes {
		keys = append(keys, key(h))
	}
	keys = append(keys, userKey(userID))
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("session: revoke all: %w", err)
	}
	return nil
}

// FromRequestHeaders extracts a session id from an Authorization bearer value or the
// session cookie value, preferring the bearer token.
func FromRequestHeaders(authorization, cookie string) string {
	if after, ok := strings.CutPrefix(authorization, "Bearer "); ok {
		return strings.TrimSpace(after)
	}
	return cookie
}
