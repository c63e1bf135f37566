package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"instant/platform/events"
	"instant/platform/testenv"
)

// unavailable asserts a generic JSON 503 that names no dependency.
func unavailable(t *testing.T, h *harness, c call) {
	t.Helper()
	rec := h.do(t, c)
	mustStatus(t, rec, http.StatusServiceUnavailable)
	var eb errorBody
	decode(t, rec, &eb)
	if eb.Error.Code != "unavailable" {
		t.Fatalf("code = %q, want unavailable", eb.Error.Code)
	}
	low := strings.ToLower(rec.Body.String())
	for _, leak := range []string{"posts", "kafka", "sql", "dial", "127.0.0.1", "timeout"} {
		if strings.Contains(low, leak) {
			t.Fatalf("503 body leaks %q: %s", leak, rec.Body)
		}
	}
}

// TestPostsDown: whatever way posts fails (overloaded, hanging past POSTS_TIMEOUT,
// failing, gone), what needs it answers a quick 503; unlikes and the batch read, which
// do not, keep working.
func TestPostsDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["POSTS_TIMEOUT"] = "300ms" })
	user, post := newUser(), h.posts.add(newUser())
	h.like(t, user, post)

	failures := []struct {
		name  string
		apply func() (undo func())
	}{
		{"overloaded", func() func() {
			h.posts.status.Store(http.StatusServiceUnavailable)
			return func() { h.posts.status.Store(0) }
		}},
		{"hanging", func() func() {
			h.posts.hang.Store(true)
			return func() { h.posts.hang.Store(false) }
		}},
		{"internal_error", func() func() {
			h.posts.status.Store(http.StatusInternalServerError)
			return func() { h.posts.status.Store(0) }
		}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			undo := f.apply()
			defer undo()
			t.Run("like_503", func(t *testing.T) { unavailable(t, h, likeCall(newUser(), post)) })
			t.Run("likers_503", func(t *testing.T) {
				unavailable(t, h, call{method: "GET", path: "/api/posts/" + post + "/likes", as: user})
			})
			t.Run("summaries_200", func(t *testing.T) {
				mustStatus(t, h.do(t, summariesCall(user, post)), http.StatusOK)
			})
		})
	}
	t.Run("recovers_at_once_errors_not_cached", func(t *testing.T) {
		h.like(t, newUser(), post)
	})
	t.Run("unlike_200_needs_no_posts", func(t *testing.T) {
		h.posts.status.Store(http.StatusServiceUnavailable)
		defer h.posts.status.Store(0)
		mustStatus(t, h.do(t, unlikeCall(user, post)), http.StatusOK)
	})
	t.Run("gone_503", func(t *testing.T) {
		gone := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["DISCOVERY_STATIC"] = "posts=" + closedPort(t) })
		unavailable(t, gone, likeCall(newUser(), uuid.NewString()))
		// Readiness does not depend on posts (see newApp).
		mustStatus(t, gone.do(t, call{method: "GET", path: "/readyz"}), http.StatusOK)
	})
}

// TestPostCache runs the app with the cache on: a busy post costs posts one call per
// TTL, a deleted post stops taking likes once the TTL has passed, and a 404 is never
// remembered.
func TestPostCache(t *testing.T) {
	const ttl = time.Second
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["POST_CACHE_TTL"] = ttl.String() })
	post := h.posts.add(newUser())
	before, start := h.posts.calls.Load(), time.Now()
	for range 10 {
		h.like(t, newUser(), post)
	}
	h.likers(t, newUser(), post, "")
	// Each call to posts opens a TTL-long window answered from memory, so however slowly
	// the requests ran, there were at most one call per TTL elapsed, plus one.
	if n, most := h.posts.calls.Load()-before, 1+int64(time.Since(start)/ttl)+1; n < 1 || n > most {
		t.Fatalf("posts called %d times for 11 requests on one post, want 1 to %d", n, most)
	}

	h.posts.remove(post)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rec := h.do(t, likeCall(newUser(), post))
		if rec.Code == http.StatusNotFound {
			break
		}
		mustStatus(t, rec, http.StatusOK) // within the TTL
		if time.Now().After(deadline) {
			t.Fatal("a deleted post stayed likeable")
		}
		time.Sleep(50 * time.Millisecond)
	}

	fresh := uuid.NewString()
	mustStatus(t, h.do(t, likeCall(newUser(), fresh)), http.StatusNotFound)
	h.posts.mu.Lock()
	h.posts.posts[fresh] = newUser()
	h.posts.mu.Unlock()
	h.like(t, newUser(), fresh)
}

// TestConcurrentLikesThroughRoutes: 50 users like one post at once through the handler
// on PostgreSQL, each twice; half then unlike, twice. The count is exact and each real
// change sent exactly one event.
func TestConcurrentLikesThroughRoutes(t *testing.T) {
	h := newHarness(t, testenv.Postgres(t), nil)
	post := h.posts.add(newUser())
	users := make([]string, 50)
	for i := range users {
		users[i] = newUser()
	}
	run := func(c func(user string) call, who []string) {
		var wg sync.WaitGroup
		for _, u := range who {
			for range 2 {
				wg.Go(func() {
					if rec := h.do(t, c(u)); rec.Code != http.StatusOK {
						t.Errorf("status %d: %s", rec.Code, rec.Body)
					}
				})
			}
		}
		wg.Wait()
	}
	run(func(u string) call { return likeCall(u, post) }, users)
	if s := h.summary(t, users[0], post); s.LikeCount != 50 {
		t.Fatalf("count = %d after 50 users liked twice, want 50", s.LikeCount)
	}
	run(func(u string) call { return unlikeCall(u, post) }, users[:25])
	l := h.likers(t, users[0], post, "?limit=100")
	if l.LikeCount != 25 || len(l.Items) != 25 || l.LikedByMe {
		t.Fatalf("after 25 unliked twice: count %d, %d likers, liked by an unliker %v", l.LikeCount, len(l.Items), l.LikedByMe)
	}
	// Every event is out once a later change's event is.
	last := newUser()
	h.like(t, last, post)
	h.event(t, "like.created", post, last)
	created := h.events.count(t, func(e events.Envelope) bool { return e.Type == "like.created" && e.Key == post })
	deleted := h.events.count(t, func(e events.Envelope) bool { return e.Type == "like.deleted" && e.Key == post })
	if created != 50 || deleted != 25 {
		// 51 likes were made, and the wait above took one like.created off the reader.
		t.Fatalf("events: %d like.created (+1 awaited), %d like.deleted; want 50 and 25", created, deleted)
	}
}

// TestKafkaDown: the outbox takes the event while Kafka is away, so likes succeed; only
// readiness reports Kafka.
func TestKafkaDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["KAFKA_BROKERS"] = closedPort(t) })
	h.like(t, newUser(), h.posts.add(newUser()))
	rec := h.do(t, call{method: "GET", path: "/readyz"})
	mustStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), `"kafka"`) {
		t.Fatalf("readyz = %s, want kafka listed as failed", rec.Body)
	}
}

func TestDatabaseDown(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	h := newHarness(t, u.String(), nil)
	user, post := newUser(), h.posts.add(newUser())
	h.like(t, user, post)
	p.close()
	cases := []struct {
		name string
		c    call
	}{
		{"like_503", likeCall(newUser(), post)},
		{"unlike_503", unlikeCall(user, post)},
		{"likers_503", call{method: "GET", path: "/api/posts/" + post + "/likes", as: user}},
		{"summaries_503", summariesCall(user, post)},
		{"internal_503", call{method: "GET", path: "/internal/likes?post_ids=" + post}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
	t.Run("readyz_503", func(t *testing.T) {
		mustStatus(t, h.do(t, call{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	})
}

// TestMetrics checks the domain counters in the process registry: only real changes
// count.
func TestMetrics(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), nil)
	user, post := newUser(), h.posts.add(newUser())
	h.like(t, user, post)
	h.like(t, user, post)
	h.like(t, newUser(), post)
	mustStatus(t, h.do(t, unlikeCall(user, post)), http.StatusOK)
	mustStatus(t, h.do(t, unlikeCall(user, post)), http.StatusOK)
	mustStatus(t, h.do(t, likeCall(user, uuid.NewString())), http.StatusNotFound)
	got := gather(t, h.proc.Registry)
	for k, v := range map[string]float64{"likes_created_total": 2, "likes_deleted_total": 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 {
				out[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// proxy cuts a dependency's connections on demand (testenv.Proxy).
type proxy struct{ *testenv.Proxy }

func startProxy(t *testing.T, target string) proxy { return proxy{testenv.StartProxy(t, target)} }
func (p proxy) addr() string                       { return p.Addr() }
func (p proxy) close()                             { p.Close() }
