package like

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// PostCache answers post lookups from memory for a short while after the posts service
// confirmed a post, so a busy post's likes cost one posts call per TTL per instance
// rather than one per request. Only posts that exist are kept: a 404 or a failure is
// never cached, so a post created a moment ago is found at once and a posts outage
// ends for this service the moment posts answers again.
//
// The TTL is how long a deleted post can still be liked here, so it is short
// (POST_CACHE_TTL, 2s by default): a post removed a moment ago may take likes for two
// more seconds, which an event-driven purge on post.deleted has to handle anyway (a like
// written just before the deletion is indistinguishable), while a viral post taking
// 2,000 likes a second still costs posts one call every two seconds. An entry
// expires TTL after its lookup started, so a slow answer does not stretch the window.
//
// The cache holds at most size posts. Every entry lives the same TTL, so insertion order
// is expiry order: a list in that order evicts the oldest entry in O(1) when full.
// Concurrent misses for one post share one call (singleflight), so an entry expiring
// under load does not send a burst to posts. That shared call carries the first
// caller's identity; the internal route's answer does not depend on the caller.
type PostCache struct {
	next    Posts
	ttl     time.Duration
	size    int
	metrics *Metrics
	now     func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	items map[string]*list.Element // post id -> element holding a *cached
	order *list.List               // front: the oldest entry, the first to expire
}

type cached struct {
	key     string
	post    Post
	expires time.Time
}

// NewPostCache wraps next. A ttl of zero or less turns caching off (concurrent misses
// still share a call); size bounds the number of posts kept.
func NewPostCache(next Posts, ttl time.Duration, size int, m *Metrics) *PostCache {
	return &PostCache{next: next, ttl: ttl, size: max(size, 1), metrics: m, now: time.Now,
		items: map[string]*list.Element{}, order: list.New()}
}

// Post returns the post from memory or asks posts.
func (c *PostCache) Post(ctx context.Context, id string) (Post, error) {
	if p, ok := c.get(id); ok {
		c.metrics.fromCache.Inc()
		return p, nil
	}
	ch := c.group.DoChan(id, func() (any, error) {
		// A caller that missed just before another's call stored the post, and arrived
		// just after that call ended, finds it here instead of calling again.
		if p, ok := c.get(id); ok {
			return p, nil
		}
		c.metrics.fromPosts.Inc()
		started := c.now()
		// The shared call must not fail because the caller that started it went away;
		// the posts client's own timeout bounds it.
		p, err := c.next.Post(context.WithoutCancel(ctx), id)
		if err != nil {
			return Post{}, err
		}
		c.put(id, p, started)
		return p, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Post{}, r.Err
		}
		return r.Val.(Post), nil
	case <-ctx.Done():
		return Post{}, fmt.Errorf("%w: post lookup: %w", ErrUnavailable, ctx.Err())
	}
}

func (c *PostCache) get(id string) (Post, bool) {
	if c.ttl <= 0 {
		return Post{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return Post{}, false
	}
	v := e.Value.(*cached)
	if !c.now().Before(v.expires) {
		c.remove(e)
		return Post{}, false
	}
	return v.post, true
}

func (c *PostCache) put(id string, p Post, started time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.remove(e)
	}
	c.items[id] = c.order.PushBack(&cached{key: id, post: p, expires: started.Add(c.ttl)})
	now := c.now()
	for e := c.order.Front(); e != nil && (c.order.Len() > c.size || !now.Before(e.Value.(*cached).expires)); e = c.order.Front() {
		c.remove(e)
	}
}

func (c *PostCache) remove(e *list.Element) {
	delete(c.items, e.Value.(*cached).key)
	c.order.Remove(e)
}

// Len returns how many posts are held, expired ones not yet evicted included.
func (c *PostCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
