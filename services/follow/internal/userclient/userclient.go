// Package userclient asks auth whether an account exists, through auth's public profile
// route (GET /api/users/{id}), and remembers the answers that said yes for a short while.
package userclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"instant/platform/client"
	"instant/services/follow/internal/follow"
)

// Getter is the call this package makes; *client.Client satisfies it.
type Getter interface {
	GetJSON(ctx context.Context, path string, query url.Values, out any) error
}

// Users implements follow.Users over auth.
//
// Only "exists" is cached: an account is created once and deleted rarely, so a short
// TTL bounds how long a deleted account can still be followed, while "not found" is
// never cached, so an account that was just created can be followed at once. Concurrent
// lookups of one id share a single call (a popular account followed by many at once).
type Users struct {
	auth  Getter
	cache *cache
	calls singleflight.Group
}

// New returns Users calling auth; answers are cached for ttl (0 disables the cache) in
// at most size entries.
func New(auth Getter, ttl time.Duration, size int) *Users {
	return &Users{auth: auth, cache: newCache(ttl, size, time.Now)}
}

var _ follow.Users = (*Users)(nil)

// profile is the part of auth's profile answer this package reads.
type profile struct {
	ID string `json:"id"`
}

// Exists asks auth (or the cache) whether id names an account.
func (u *Users) Exists(ctx context.Context, id string) error {
	if u.cache.has(id) {
		return nil
	}
	// The shared call must not end when the first caller's request does: the others
	// still wait on it. The client's own timeout bounds it.
	ch := u.calls.DoChan(id, func() (any, error) {
		var p profile
		if err := u.auth.GetJSON(context.WithoutCancel(ctx), "/api/users/"+url.PathEscape(id), nil, &p); err != nil {
			return nil, err
		}
		if p.ID != id {
			return nil, fmt.Errorf("auth answered for user %q when asked for %q", p.ID, id)
		}
		u.cache.add(id)
		return nil, nil
	})
	var err error
	select {
	case r := <-ch:
		err = r.Err
	case <-ctx.Done():
		return fmt.Errorf("%w: look up user: %w", follow.ErrUnavailable, ctx.Err())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNotFound):
		return follow.ErrUserNotFound
	default:
		// Unreachable, timing out, answering 5xx or something this service cannot read:
		// whichever it is, whether the user exists cannot be told now.
		return fmt.Errorf("%w: look up user: %w", follow.ErrUnavailable, err)
	}
}

// cache is a bounded set of ids with an expiry each.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu        sync.Mutex
	expires   map[string]time.Time
	lastSweep time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, expires: make(map[string]time.Time)}
}

func (c *cache) has(id string) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[id]
	if ok && !c.now().Before(exp) {
		delete(c.expires, id)
		return false
	}
	return ok
}

// add remembers id for ttl. When the cache is full it first drops expired entries (at
// most once per ttl, so a full cache of live entries does not pay a sweep per add), then
// any entry: all are equally cheap to look up again.
func (c *cache) add(id string) {
	if c.ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.expires[id]; !ok && len(c.expires) >= c.size {
		if now.Sub(c.lastSweep) >= c.ttl {
			c.lastSweep = now
			for k, exp := range c.expires {
				if !now.Before(exp) {
					delete(c.expires, k)
				}
			}
		}
		for k := range c.expires {
			if len(c.expires) < c.size {
				break
			}
			delete(c.expires, k)
		}
	}
	c.expires[id] = now.Add(c.ttl)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}
