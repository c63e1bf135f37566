// Package cache keeps the answers of a lookup that is slow or costs another service a
// call (does this post exist, does this account) in memory for a short, fixed time.
package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Cache answers Get from memory for ttl after a lookup succeeded, and otherwise calls
// load.
//
// Only answers are kept: an error, a "not found" included, is never cached, so a thing
// created a moment after a miss is found at once, and an outage of what load asks ends
// for the caller the moment it answers again. An entry expires ttl after its lookup
// started, so a slow answer does not stretch the window in which a stale answer is
// given; ttl is that window, so it is short.
//
// The cache holds at most maxEntries entries. Every entry lives the same ttl, so
// insertion order is expiry order: a list in that order evicts the oldest entry in O(1)
// when full, and drops expired ones on each insert.
//
// Concurrent misses for one key share one call to load, so an entry expiring under load
// does not send a burst to the service behind it. The shared call runs on the context of
// the caller that started it minus its cancellation: it must not fail because that
// caller went away while others wait on it, so load bounds its own time (a client
// timeout). It carries that caller's values (identity, trace), so load's answer must not
// depend on who asks. A caller whose ctx ends first gets ctx.Err() at once; the call
// goes on for the others, and its answer is kept.
type Cache[K comparable, V any] struct {
	ttl   time.Duration
	size  int
	load  func(context.Context, K) (V, error)
	now   func() time.Time
	onHit func()

	mu       sync.Mutex
	items    map[K]*list.Element // key -> element holding an *entry[K, V]
	order    *list.List          // front: the oldest entry, the first to expire
	inflight map[K]*call[V]      // the lookups under way, one per key
}

type entry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

// call is one lookup under way; done closes when val and err are set.
type call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Option tunes a [Cache].
type Option func(*options)

type options struct {
	now   func() time.Time
	onHit func()
}

// WithClock makes the cache read the time from now instead of [time.Now]; for tests.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// OnHit calls f each time Get answers from memory, to count hits. It must be quick.
func OnHit(f func()) Option { return func(o *options) { o.onHit = f } }

// New returns a cache over load. A ttl of zero or less turns caching off (concurrent
// misses still share a call); maxEntries (at least 1) bounds the entries kept.
func New[K comparable, V any](ttl time.Duration, maxEntries int, load func(context.Context, K) (V, error), opts ...Option) *Cache[K, V] {
	o := options{now: time.Now, onHit: func() {}}
	for _, opt := range opts {
		opt(&o)
	}
	return &Cache[K, V]{ttl: ttl, size: max(maxEntries, 1), load: load, now: o.now, onHit: o.onHit,
		items: map[K]*list.Element{}, order: list.New(), inflight: map[K]*call[V]{}}
}

// Get returns key's value from memory, or joins or starts a lookup of it. It returns
// load's error as is, or ctx.Err() when ctx ends before the lookup does.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	c.mu.Lock()
	if v, ok := c.get(key); ok {
		c.mu.Unlock()
		c.onHit()
		return v, nil
	}
	// Looking in memory and joining a lookup under one lock leaves no moment in which a
	// caller misses an answer that has just been stored and calls load again.
	cl, ok := c.inflight[key]
	if !ok {
		cl = &call[V]{done: make(chan struct{})}
		c.inflight[key] = cl
		go c.run(context.WithoutCancel(ctx), key, cl)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run performs the shared lookup cl and keeps its answer.
func (c *Cache[K, V]) run(ctx context.Context, key K, cl *call[V]) {
	defer close(cl.done)
	started := c.now()
	cl.val, cl.err = c.load(ctx, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, key)
	if cl.err == nil {
		c.put(key, cl.val, started)
	}
}

// get returns key's live value, dropping it if it has expired. c.mu is held.
func (c *Cache[K, V]) get(key K) (V, bool) {
	var zero V
	if c.ttl <= 0 {
		return zero, false
	}
	e, ok := c.items[key]
	if !ok {
		return zero, false
	}
	v := e.Value.(*entry[K, V])
	if !c.now().Before(v.expires) {
		c.remove(e)
		return zero, false
	}
	return v.val, true
}

// put keeps val until ttl after started, then evicts expired entries and, while over the
// bound, the oldest. c.mu is held.
func (c *Cache[K, V]) put(key K, val V, started time.Time) {
	if c.ttl <= 0 {
		return
	}
	if e, ok := c.items[key]; ok {
		c.remove(e)
	}
	c.items[key] = c.order.PushBack(&entry[K, V]{key: key, val: val, expires: started.Add(c.ttl)})
	now := c.now()
	for e := c.order.Front(); e != nil && (c.order.Len() > c.size || !now.Before(e.Value.(*entry[K, V]).expires)); e = c.order.Front() {
		c.remove(e)
	}
}

func (c *Cache[K, V]) remove(e *list.Element) {
	delete(c.items, e.Value.(*entry[K, V]).key)
	c.order.Remove(e)
}

// Len returns how many entries are held, expired ones not yet evicted included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
