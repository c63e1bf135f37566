package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	errNotFound    = errors.New("not found")
	errUnavailable = errors.New("unavailable")
)

// source is a load that counts calls and answers from a map; err, when set, is the
// answer to everything.
type source struct {
	mu    sync.Mutex
	vals  map[string]string
	err   error
	calls atomic.Int64
	gate  chan struct{} // when set, calls wait on it
}

func (s *source) load(_ context.Context, key string) (string, error) {
	s.calls.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.vals[key]
	if !ok {
		return "", errNotFound
	}
	return v, nil
}

func (s *source) set(key, val string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if val == "" {
		delete(s.vals, key)
		return
	}
	s.vals[key] = val
}

func (s *source) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func newCache(s *source, ttl time.Duration, size int, opts ...Option) (*Cache[string, string], *time.Time) {
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	opts = append([]Option{WithClock(func() time.Time { return clock })}, opts...)
	return New(ttl, size, s.load, opts...), &clock
}

// has tells whether key is held and live, dropping it if it has expired, as Get does.
func (c *Cache[K, V]) has(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.get(key)
	return ok
}

// waitFor polls cond for up to ten seconds: for a call under way in another goroutine.
func waitFor(cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	t.Run("hit_within_ttl_then_refetch", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "owner"}}
		c, clock := newCache(s, 2*time.Second, 10)
		for range 3 {
			got, err := c.Get(ctx, "a")
			if err != nil || got != "owner" {
				t.Fatalf("Get = %q, %v", got, err)
			}
		}
		if n := s.calls.Load(); n != 1 {
			t.Fatalf("load called %d times within the TTL, want 1", n)
		}
		// Gone at the source: still answered from memory until the TTL ends, never after.
		s.set("a", "")
		*clock = clock.Add(2*time.Second - time.Nanosecond)
		if _, err := c.Get(ctx, "a"); err != nil {
			t.Fatalf("within the TTL: %v", err)
		}
		*clock = clock.Add(time.Nanosecond)
		if _, err := c.Get(ctx, "a"); !errors.Is(err, errNotFound) {
			t.Fatalf("after the TTL: err = %v, want errNotFound", err)
		}
	})
	t.Run("expiry_counts_from_the_lookup_start", func(t *testing.T) {
		clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		start := clock
		slow := func(context.Context, string) (string, error) {
			clock = clock.Add(time.Second) // the lookup takes a second
			return "1", nil
		}
		c := New(2*time.Second, 10, slow, WithClock(func() time.Time { return clock }))
		if _, err := c.Get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		// Started at 0s, answered at 1s: expires at 2s, not 3s.
		clock = start.Add(2*time.Second - time.Nanosecond)
		if !c.has("a") {
			t.Fatal("expired before ttl after the lookup started")
		}
		clock = start.Add(2 * time.Second)
		if c.has("a") {
			t.Fatal("kept ttl after the answer, not after the lookup started")
		}
	})
	t.Run("not_found_not_cached", func(t *testing.T) {
		s := &source{vals: map[string]string{}}
		c, _ := newCache(s, time.Minute, 10)
		if _, err := c.Get(ctx, "a"); !errors.Is(err, errNotFound) {
			t.Fatalf("err = %v", err)
		}
		s.set("a", "owner") // created a moment later: found at once
		if _, err := c.Get(ctx, "a"); err != nil {
			t.Fatalf("a value created after a miss is not found: %v", err)
		}
	})
	t.Run("errors_not_cached", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "owner"}, err: errUnavailable}
		c, _ := newCache(s, time.Minute, 10)
		if _, err := c.Get(ctx, "a"); !errors.Is(err, errUnavailable) {
			t.Fatalf("err = %v", err)
		}
		s.fail(nil)
		if _, err := c.Get(ctx, "a"); err != nil {
			t.Fatalf("the outage was cached: %v", err)
		}
	})
	t.Run("bounded_size_evicts_oldest", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1", "b": "2", "c": "3"}}
		c, _ := newCache(s, time.Minute, 2)
		for _, k := range []string{"a", "b", "c"} {
			if _, err := c.Get(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if c.Len() != 2 {
			t.Fatalf("cache holds %d entries, want at most 2", c.Len())
		}
		before := s.calls.Load()
		c.Get(ctx, "c")
		c.Get(ctx, "b")
		if s.calls.Load() != before {
			t.Fatal("the newest entries were evicted")
		}
		c.Get(ctx, "a")
		if s.calls.Load() != before+1 {
			t.Fatal("the oldest entry was kept")
		}
	})
	t.Run("expired_entries_evicted_on_insert", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1", "b": "2"}}
		c, clock := newCache(s, time.Second, 10)
		c.Get(ctx, "a")
		*clock = clock.Add(time.Second)
		c.Get(ctx, "b")
		if c.Len() != 1 {
			t.Fatalf("cache holds %d entries, want the expired one gone", c.Len())
		}
	})
	t.Run("ttl_zero_is_off", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1"}}
		c, _ := newCache(s, 0, 10)
		c.Get(ctx, "a")
		c.Get(ctx, "a")
		if s.calls.Load() != 2 || c.Len() != 0 {
			t.Fatalf("calls = %d, len = %d with the cache off", s.calls.Load(), c.Len())
		}
	})
	t.Run("hits_counted", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1"}}
		var hits atomic.Int64
		c, _ := newCache(s, time.Minute, 10, OnHit(func() { hits.Add(1) }))
		for range 3 {
			c.Get(ctx, "a")
		}
		c.Get(ctx, "missing")
		if hits.Load() != 2 || s.calls.Load() != 2 {
			t.Fatalf("hits = %d, calls = %d; want 2 and 2", hits.Load(), s.calls.Load())
		}
	})
	t.Run("concurrent_misses_share_one_call", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1"}, gate: make(chan struct{})}
		c, _ := newCache(s, time.Minute, 10)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := c.Get(ctx, "a")
				errs <- err
			})
		}
		// Let the first call through only once it is under way; the others join it.
		waitFor(func() bool { return s.calls.Load() > 0 })
		close(s.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Goroutines that arrived after the first call ended hit the cache, so exactly one
		// call reached the source however the scheduler interleaved them.
		if n := s.calls.Load(); n != 1 {
			t.Fatalf("load called %d times, want 1", n)
		}
	})
	t.Run("caller_gone_shared_call_continues", func(t *testing.T) {
		s := &source{vals: map[string]string{"a": "1"}, gate: make(chan struct{})}
		c, _ := newCache(s, time.Minute, 10)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := c.Get(cctx, "a")
			done <- err
		}()
		waitFor(func() bool { return s.calls.Load() > 0 })
		// Another caller joins the call the first one started.
		joined := make(chan error, 1)
		go func() {
			v, err := c.Get(ctx, "a")
			if err == nil && v != "1" {
				err = errors.New("wrong value " + v)
			}
			joined <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		close(s.gate)
		if err := <-joined; err != nil {
			t.Fatalf("the caller still waiting got %v", err)
		}
		waitFor(func() bool { return c.Len() > 0 })
		if c.Len() != 1 || s.calls.Load() != 1 {
			t.Fatal("the shared call did not complete after its first caller left")
		}
	})
	t.Run("load_ctx_keeps_values_not_cancellation", func(t *testing.T) {
		type key struct{}
		got := make(chan context.Context, 1)
		c := New(time.Minute, 10, func(ctx context.Context, _ string) (string, error) {
			got <- ctx
			return "v", nil
		})
		cctx, cancel := context.WithCancel(context.WithValue(ctx, key{}, "caller"))
		if _, err := c.Get(cctx, "a"); err != nil {
			t.Fatal(err)
		}
		cancel()
		lctx := <-got
		if lctx.Value(key{}) != "caller" || lctx.Err() != nil || lctx.Done() != nil {
			t.Fatalf("load ran on a context with value %v, err %v", lctx.Value(key{}), lctx.Err())
		}
	})
}

// TestBound walks one cache through expiry, the size bound and a sweep of expired
// entries when full.
func TestBound(t *testing.T) {
	ctx := context.Background()
	s := &source{vals: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}}
	c, clock := newCache(s, time.Minute, 3)
	c.Get(ctx, "a")
	if !c.has("a") || c.has("b") {
		t.Fatal("has after Get")
	}
	*clock = clock.Add(time.Minute)
	if c.has("a") {
		t.Fatal("an expired entry is still there")
	}
	if c.Len() != 0 {
		t.Fatalf("len = %d after expiry, want 0", c.Len())
	}

	for _, k := range []string{"a", "b", "c", "d", "e"} {
		c.Get(ctx, k)
		if !c.has(k) {
			t.Fatalf("%s missing right after Get", k)
		}
		if c.Len() > 3 {
			t.Fatalf("len = %d, over the bound 3", c.Len())
		}
	}

	// A full cache of expired entries is swept, not merely trimmed to the bound.
	*clock = clock.Add(2 * time.Minute)
	c.Get(ctx, "f")
	if c.Len() != 1 || !c.has("f") {
		t.Fatalf("len = %d after a sweep, want 1", c.Len())
	}

	off, _ := newCache(s, 0, 3)
	off.Get(ctx, "a")
	if off.has("a") {
		t.Fatal("a cache with ttl 0 remembered")
	}

	one, _ := newCache(s, time.Minute, 0)
	one.Get(ctx, "a")
	one.Get(ctx, "b")
	if one.Len() != 1 || !one.has("b") {
		t.Fatalf("maxEntries 0 holds %d entries, want the newest 1", one.Len())
	}
}
