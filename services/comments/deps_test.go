package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

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

// TestPostsDown: whatever way posts fails (gone, overloaded, hanging past
// POSTS_TIMEOUT), what needs it answers a quick 503; an author's own deletion, which
// does not, still works.
func TestPostsDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["POSTS_TIMEOUT"] = "300ms" })
	author, owner := newUser(), newUser()
	post := h.posts.add(owner)
	c := h.comment(t, author, post, "before the outage")
	other := h.comment(t, newUser(), post, "another")

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
			t.Run("create_503", func(t *testing.T) {
				unavailable(t, h, createCall(author, post, map[string]string{"body": "during"}))
			})
			t.Run("list_503", func(t *testing.T) {
				unavailable(t, h, call{method: "GET", path: "/api/posts/" + post + "/comments", as: author})
			})
			t.Run("update_503", func(t *testing.T) {
				unavailable(t, h, patchCall(author, c.ID, map[string]string{"body": "edit"}))
			})
			t.Run("delete_by_post_owner_503", func(t *testing.T) {
				unavailable(t, h, deleteCall(owner, other.ID))
			})
		})
	}
	t.Run("recovers_at_once_errors_not_cached", func(t *testing.T) {
		mustStatus(t, h.do(t, createCall(author, post, map[string]string{"body": "after"})), http.StatusCreated)
	})
	t.Run("delete_200_author_needs_no_posts", func(t *testing.T) {
		h.posts.status.Store(http.StatusServiceUnavailable)
		defer h.posts.status.Store(0)
		mustStatus(t, h.do(t, deleteCall(author, c.ID)), http.StatusOK)
	})

	t.Run("gone_503", func(t *testing.T) {
		gone := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["DISCOVERY_STATIC"] = "posts=" + closedPort(t) })
		unavailable(t, gone, createCall(author, uuid.NewString(), map[string]string{"body": "hi"}))
		// Readiness does not depend on posts (see newApp).
		mustStatus(t, gone.do(t, call{method: "GET", path: "/readyz"}), http.StatusOK)
	})
}

// TestPostCache runs the app with the cache on: a busy post costs posts one call per
// TTL, a deleted post stops taking comments once the TTL has passed, and a 404 is never
// remembered.
func TestPostCache(t *testing.T) {
	const ttl = time.Second
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["POST_CACHE_TTL"] = ttl.String() })
	post := h.posts.add(newUser())
	before, start := h.posts.calls.Load(), time.Now()
	for range 10 {
		h.comment(t, newUser(), post, "busy")
	}
	h.list(t, newUser(), post, "")
	// Each call to posts opens a TTL-long window answered from memory, so however slowly
	// the requests ran, there were at most one call per TTL elapsed, plus one.
	if n, most := h.posts.calls.Load()-before, 1+int64(time.Since(start)/ttl)+1; n < 1 || n > most {
		t.Fatalf("posts called %d times for 11 requests on one post, want 1 to %d", n, most)
	}

	h.posts.remove(post)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rec := h.do(t, createCall(newUser(), post, map[string]string{"body": "after the deletion"}))
		if rec.Code == http.StatusNotFound {
			break
		}
		mustStatus(t, rec, http.StatusCreated) // within the TTL
		if time.Now().After(deadline) {
			t.Fatal("a deleted post stayed commentable")
		}
		time.Sleep(50 * time.Millisecond)
	}

	fresh := uuid.NewString()
	mustStatus(t, h.do(t, createCall(newUser(), fresh, map[string]string{"body": "too early"})), http.StatusNotFound)
	h.posts.mu.Lock()
	h.posts.posts[fresh] = newUser()
	h.posts.mu.Unlock()
	mustStatus(t, h.do(t, createCall(newUser(), fresh, map[string]string{"body": "now"})), http.StatusCreated)
}

// TestKafkaDown: the outbox takes the event while Kafka is away, so writes succeed; only
// readiness reports Kafka.
func TestKafkaDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), func(v map[string]string) { v["KAFKA_BROKERS"] = closedPort(t) })
	post := h.posts.add(newUser())
	mustStatus(t, h.do(t, createCall(newUser(), post, map[string]string{"body": "queued"})), http.StatusCreated)
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
	c := h.comment(t, user, post, "before")
	p.close()
	cases := []struct {
		name string
		c    call
	}{
		{"create_503", createCall(user, post, map[string]string{"body": "during"})},
		{"list_503", call{method: "GET", path: "/api/posts/" + post + "/comments", as: user}},
		{"update_503", patchCall(user, c.ID, map[string]string{"body": "edit"})},
		{"delete_503", deleteCall(user, c.ID)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
	t.Run("readyz_503", func(t *testing.T) {
		mustStatus(t, h.do(t, call{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	})
}

// TestMetrics checks the domain counters in the process registry.
func TestMetrics(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), nil)
	user, post := newUser(), h.posts.add(newUser())
	a := h.comment(t, user, post, "one")
	h.comment(t, user, post, "two")
	mustStatus(t, h.do(t, deleteCall(user, a.ID)), http.StatusOK)
	mustStatus(t, h.do(t, deleteCall(user, a.ID)), http.StatusNotFound)
	mustStatus(t, h.do(t, createCall(user, uuid.NewString(), map[string]string{"body": "x"})), http.StatusNotFound)
	got := gather(t, h.proc.Registry)
	for k, v := range map[string]float64{"comments_created_total": 2, "comments_deleted_total": 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if eventCount(t, h, "comment.created") > 2 {
		t.Error("more comment.created events than comments")
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
