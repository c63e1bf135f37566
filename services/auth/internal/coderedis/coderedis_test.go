package coderedis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"instant/platform/testenv"
	"instant/services/auth/internal/user"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// server is one Redis to run the cases against; expire makes every live code expire.
type server struct {
	rdb    redis.UniversalClient
	expire func(t *testing.T, s *Store)
}

// servers runs every case against the real Redis (required under CI) and miniredis.
func servers() map[string]func(t *testing.T) server {
	return map[string]func(t *testing.T) server{
		"redis": func(t *testing.T) server {
			opt, err := redis.ParseURL(testenv.Redis(t))
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opt)
			t.Cleanup(func() { c.Close() })
			// Real Redis cannot be fast-forwarded: shorten the TTL of every code record
			// and wait (with a deadline) until Redis has dropped them.
			return server{rdb: c, expire: func(t *testing.T, s *Store) {
				ctx := context.Background()
				keys, err := c.Keys(ctx, "auth:code:*").Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					c.PExpire(ctx, k, time.Millisecond)
				}
				deadline := time.Now().Add(5 * time.Second)
				for {
					n, err := c.Exists(ctx, keys...).Result()
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatal("code records did not expire")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}}
		},
		"miniredis": func(t *testing.T) server {
			m := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { c.Close() })
			return server{rdb: c, expire: func(t *testing.T, s *Store) { m.FastForward(s.ttl + time.Second) }}
		},
	}
}

func TestCodes(t *testing.T) {
	for name, mk := range servers() {
		t.Run(name, func(t *testing.T) {
			t.Run("issue_six_digits_hashed_with_ttl", func(t *testing.T) {
				srv := mk(t)
				s := New(srv.rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, err := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				if err != nil {
					t.Fatal(err)
				}
				if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
					t.Fatalf("code %q is not six digits", code)
				}
				keys, _ := srv.rdb.Keys(ctx, "*").Result()
				if len(keys) != 1 {
					t.Fatalf("keys = %v, want one record", keys)
				}
				if strings.Contains(keys[0], "example.com") {
					t.Fatal("the email shows in the key")
				}
				rec, _ := srv.rdb.HGetAll(ctx, keys[0]).Result()
				for f, v := range rec {
					if strings.Contains(v, code) {
						t.Fatalf("field %s holds the code in clear", f)
					}
				}
				ttl, _ := srv.rdb.PTTL(ctx, keys[0]).Result()
				if ttl <= 0 || ttl > user.CodeTTL {
					t.Fatalf("ttl = %v, want within (0, %v]", ttl, user.CodeTTL)
				}
			})
			t.Run("take_once", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeChangeEmail, "u1", "new@example.com")
				if p, err := s.Check(ctx, user.PurposeChangeEmail, "u1", code); err != nil || p != "new@example.com" {
					t.Fatalf("check = %q, %v", p, err)
				}
				if p, err := s.Take(ctx, user.PurposeChangeEmail, "u1", code); err != nil || p != "new@example.com" {
					t.Fatalf("take = %q, %v", p, err)
				}
				if _, err := s.Take(ctx, user.PurposeChangeEmail, "u1", code); !errors.Is(err, user.ErrCodeExpired) {
					t.Fatalf("second take = %v, want ErrCodeExpired", err)
				}
			})
			t.Run("expires_after_ttl", func(t *testing.T) {
				srv := mk(t)
				s := New(srv.rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				srv.expire(t, s)
				if _, err := s.Take(ctx, user.PurposeLogin, "a@example.com", code); !errors.Is(err, user.ErrCodeExpired) {
					t.Fatalf("take after ttl = %v, want ErrCodeExpired", err)
				}
			})
			t.Run("five_wrong_tries_kill", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				wrong := wrongCode(code)
				for i := range user.MaxCodeAttempts {
					if _, err := s.Check(ctx, user.PurposeLogin, "a@example.com", wrong); !errors.Is(err, user.ErrInvalidCode) {
						t.Fatalf("wrong try %d = %v, want ErrInvalidCode", i+1, err)
					}
				}
				if _, err := s.Take(ctx, user.PurposeLogin, "a@example.com", code); !errors.Is(err, user.ErrCodeExpired) {
					t.Fatalf("right code after %d wrong tries = %v, want ErrCodeExpired", user.MaxCodeAttempts, err)
				}
			})
			t.Run("four_wrong_tries_leave_it_alive", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				for range user.MaxCodeAttempts - 1 {
					s.Take(ctx, user.PurposeLogin, "a@example.com", wrongCode(code))
				}
				if _, err := s.Take(ctx, user.PurposeLogin, "a@example.com", code); err != nil {
					t.Fatalf("right code after %d wrong tries = %v", user.MaxCodeAttempts-1, err)
				}
			})
			t.Run("bound_to_purpose_and_subject", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeDeleteAccount, "u1", "")
				for _, other := range []struct {
					p       user.Purpose
					subject string
				}{{user.PurposeLogin, "u1"}, {user.PurposeChangeEmail, "u1"}, {user.PurposeDeleteAccount, "u2"}} {
					if _, err := s.Take(ctx, other.p, other.subject, code); !errors.Is(err, user.ErrCodeExpired) {
						t.Fatalf("take as %s/%s = %v, want ErrCodeExpired", other.p, other.subject, err)
					}
				}
				if _, err := s.Take(ctx, user.PurposeDeleteAccount, "u1", code); err != nil {
					t.Fatalf("take for its own purpose = %v", err)
				}
			})
			t.Run("new_code_replaces_old", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				old, _ := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				var code string
				for code = old; code == old; {
					code, _ = s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				}
				if _, err := s.Check(ctx, user.PurposeLogin, "a@example.com", old); !errors.Is(err, user.ErrInvalidCode) {
					t.Fatalf("old code = %v, want ErrInvalidCode", err)
				}
				if _, err := s.Take(ctx, user.PurposeLogin, "a@example.com", code); err != nil {
					t.Fatalf("new code = %v", err)
				}
			})
			t.Run("concurrent_takes_one_wins", func(t *testing.T) {
				s := New(mk(t).rdb, testKey, user.CodeTTL, user.MaxCodeAttempts)
				ctx := context.Background()
				code, _ := s.Issue(ctx, user.PurposeLogin, "a@example.com", "")
				const n = 20
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					wins int
				)
				for range n {
					wg.Go(func() {
						_, err := s.Take(ctx, user.PurposeLogin, "a@example.com", code)
						if err != nil && !errors.Is(err, user.ErrCodeExpired) {
							t.Errorf("take: %v", err)
						}
						if err == nil {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if wins != 1 {
					t.Fatalf("%d of %d concurrent takes won, want exactly 1", wins, n)
				}
			})
		})
	}
}

func TestUnavailable(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	s := New(c, testKey, user.CodeTTL, user.MaxCodeAttempts)
	m.Close()
	ctx := context.Background()
	if _, err := s.Issue(ctx, user.PurposeLogin, "a@example.com", ""); !errors.Is(err, user.ErrUnavailable) {
		t.Fatalf("issue with Redis down = %v, want ErrUnavailable", err)
	}
	if _, err := s.Check(ctx, user.PurposeLogin, "a@example.com", "123456"); !errors.Is(err, user.ErrUnavailable) {
		t.Fatalf("check with Redis down = %v, want ErrUnavailable", err)
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}
