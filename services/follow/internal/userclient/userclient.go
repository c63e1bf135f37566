// Package userclient asks auth whether an account exists, through auth's public profile
// route (GET /api/users/{id}), and remembers the answers that said yes for a short while.
package userclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"instant/platform/cache"
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
// The mechanism is [cache.Cache].
type Users struct {
	cache *cache.Cache[string, struct{}]
}

// New returns Users calling auth; answers are cached for ttl (0 disables the cache) in
// at most size entries.
func New(auth Getter, ttl time.Duration, size int) *Users {
	return &Users{cache: cache.New(ttl, size, func(ctx context.Context, id string) (struct{}, error) {
		var p profile
		if err := auth.GetJSON(ctx, "/api/users/"+url.PathEscape(id), nil, &p); err != nil {
			return struct{}{}, err
		}
		if p.ID != id {
			return struct{}{}, fmt.Errorf("auth answered for user %q when asked for %q", p.ID, id)
		}
		return struct{}{}, nil
	})}
}

var _ follow.Users = (*Users)(nil)

// profile is the part of auth's profile answer this package reads.
type profile struct {
	ID string `json:"id"`
}

// Exists asks auth (or the cache) whether id names an account.
func (u *Users) Exists(ctx context.Context, id string) error {
	_, err := u.cache.Get(ctx, id)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNotFound):
		return follow.ErrUserNotFound
	default:
		// Unreachable, timing out, answering 5xx or something this service cannot read,
		// or the caller gave up waiting: whichever it is, whether the user exists cannot
		// be told now.
		return fmt.Errorf("%w: look up user: %w", follow.ErrUnavailable, err)
	}
}
