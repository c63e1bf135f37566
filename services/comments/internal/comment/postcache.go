package comment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"instant/platform/cache"
)

// PostCache answers post lookups from memory for a short while after the posts service
// confirmed a post, so a busy post's comments cost one posts call per TTL per instance
// rather than one per request. Only posts that exist are kept: a 404 or a failure is
// never cached, so a post created a moment ago is found at once and a posts outage
// ends for this service the moment posts answers again.
//
// The TTL is how long a deleted post can stay commentable here, so it is short
// (POST_CACHE_TTL, 2s by default): a post removed a moment ago may take comments for two
// more seconds, which an event-driven purge on post.deleted has to handle anyway (a
// comment written just before the deletion is indistinguishable), while a post with 500
// comment requests a second still costs posts one call every two seconds. An entry
// expires TTL after its lookup started, so a slow answer does not stretch the window.
//
// The cache holds at most size posts, evicting the oldest. Concurrent misses for one
// post share one call, so an entry expiring under load does not send a burst to posts.
// That shared call carries the first caller's identity; the internal route's answer does
// not depend on the caller. The mechanism is [cache.Cache]; this type adds the metrics
// and the errors of this package.
type PostCache struct {
	cache *cache.Cache[string, Post]
}

// NewPostCache wraps next. A ttl of zero or less turns caching off (concurrent misses
// still share a call); size bounds the number of posts kept.
func NewPostCache(next Posts, ttl time.Duration, size int, m *Metrics) *PostCache {
	load := func(ctx context.Context, id string) (Post, error) {
		m.fromPosts.Inc()
		return next.Post(ctx, id)
	}
	return &PostCache{cache: cache.New(ttl, size, load, cache.OnHit(m.fromCache.Inc))}
}

// Post returns the post from memory or asks posts.
func (c *PostCache) Post(ctx context.Context, id string) (Post, error) {
	p, err := c.cache.Get(ctx, id)
	// The lookup runs without the caller's cancellation, so only the caller giving up
	// yields the caller's own context error.
	if err != nil && errors.Is(err, ctx.Err()) {
		return Post{}, fmt.Errorf("%w: post lookup: %w", ErrUnavailable, err)
	}
	return p, err
}
