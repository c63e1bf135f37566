package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"instant/platform/testenv"
)

// servers runs every case against the real Redis and the embedded stand-in.
func servers(t *testing.T) map[string]func(t *testing.T) redis.UniversalClient {
	return map[string]func(t *testing.T) redis.UniversalClient{
		"redis": func(t *testing.T) redis.UniversalClient {
			opt, err := redis.ParseURL(testenv.Redis(t))
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opt)
			t.Cleanup(func() { c.Close() })
			return c
		},
		"miniredis": func(t *testing.T) redis.UniversalClient {
			m := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { c.Close() })
			return c
		},
	}
}

func TestLifecycle(t *testing.T) {
	for name, mk := range servers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rdb := mk(t)
			s := NewStore(rdb, time.Hour, 24*time.Hour)
			id1, _, err := s.Create(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			id2, _, _ := s.Create(ctx, "u1")
			other, _, _ := s.Create(ctx, "u2")
			if len(id1) < 43 {
				t.Fatalf("session id too short: %d chars", len(id1))
			}
			got, err := s.Resolve(ctx, id1)
			if err != nil || got.UserID != "u1" {
				t.Fatalf("resolve = %+v, %v", got, err)
			}
			if n, _ := rdb.Exists(ctx, "session:"+id1).Result(); n != 0 {
				t.Fatal("raw session id stored as a key")
			}
			if err := s.Revoke(ctx, id1); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Resolve(ctx, id1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("revoked session resolved: %v", err)
			}
			if _, err := s.Resolve(ctx, id2); err != nil {
				t.Fatalf("sibling session lost: %v", err)
			}
			if err := s.RevokeAll(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Resolve(ctx, id2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("logout-all left a session: %v", err)
			}
			if _, err := s.Resolve(ctx, other); err != nil {
				t.Fatalf("another user's session revoked: %v", err)
			}
			// Absolute lifetime: a session past its end is refused even if the key lives.
			s.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
			if _, err := s.Resolve(ctx, other); !errors.Is(err, ErrNotFound) {
				t.Fatalf("session past its lifetime resolved: %v", err)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	s := NewStore(rdb, time.Minute, time.Hour)
	ctx := context.Background()
	id, _, _ := s.Create(ctx, "u1")
	m.FastForward(50 * time.Second)
	if _, err := s.Resolve(ctx, id); err != nil { // renews the idle timer
		t.Fatal(err)
	}
	m.FastForward(50 * time.Second)
	if _, err := s.Resolve(ctx, id); err != nil {
		t.Fatalf("used session idled out: %v", err)
	}
	m.FastForward(61 * time.Second)
	if _, err := s.Resolve(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("idle session still valid: %v", err)
	}
}

func TestRedisDownIsNotSignedOut(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	s := NewStore(rdb, time.Minute, time.Hour)
	id, _, _ := s.Create(context.Background(), "u1")
	m.Close()
	_, err := s.Resolve(context.Background(), id)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Redis down gave %v, want an error that is not ErrNotFound", err)
	}
}
