package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

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
	for _, leak := range []string{"auth", "kafka", "sql", "dial", "127.0.0.1", "timeout"} {
		if strings.Contains(low, leak) {
			t.Fatalf("503 body leaks %q: %s", leak, rec.Body)
		}
	}
}

// TestAuthDown: a follow needs auth to say the user exists, so it answers 503 while auth
// cannot (gone, failing, or too slow); everything else keeps working, and readiness does
// not fail on auth.
func TestAuthDown(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, h *harness)
	}{
		{"unreachable", func(t *testing.T, h *harness) { h.auth.srv.Close() }},
		{"answers_503", func(t *testing.T, h *harness) { h.auth.down.Store(true) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testenv.SQLite(t), nil)
			a, b, known := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, a, b)
			tc.setup(t, h)
			t.Run("follow_503", func(t *testing.T) { unavailable(t, h, put(followPath(known), a)) })
			t.Run("unfollow_200", func(t *testing.T) { mustStatus(t, h.do(t, del(followPath(b), a)), http.StatusOK) })
			t.Run("followers_200", func(t *testing.T) {
				mustStatus(t, h.do(t, get("/api/users/"+b+"/followers", a)), http.StatusOK)
			})
			t.Run("counts_200", func(t *testing.T) {
				mustStatus(t, h.do(t, get("/api/users/"+b+"/follow-counts", a)), http.StatusOK)
			})
			t.Run("readyz_200", func(t *testing.T) { mustStatus(t, h.do(t, get("/readyz", "")), http.StatusOK) })
		})
	}
	t.Run("too_slow", func(t *testing.T) {
		hold := make(chan struct{})
		h := newHarness(t, testenv.SQLite(t), func(vars map[string]string) { vars["AUTH_TIMEOUT"] = "200ms" })
		h.auth.hold = hold
		t.Cleanup(func() { close(hold) }) // runs before the fake's Close, which waits for handlers
		unavailable(t, h, put(followPath(h.auth.user()), h.auth.user()))
	})
	t.Run("no_instances", func(t *testing.T) {
		h := newHarness(t, testenv.SQLite(t), func(vars map[string]string) {
			vars["DISCOVERY_STATIC"] = "posts=" + closedPort(t)
		})
		unavailable(t, h, put(followPath(h.auth.user()), h.auth.user()))
	})
}

// TestUserCache: a user auth said exists is remembered (one call for many follows, and
// follows keep working through a short auth outage); a user auth did not know is asked
// about again, so an account created a moment later can be followed.
func TestUserCache(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), nil)
	star := h.auth.user()
	before := h.auth.calls.Load()
	for range 5 {
		h.follow(t, h.auth.user(), star)
	}
	if n := h.auth.calls.Load() - before; n != 1 {
		t.Fatalf("auth asked %d times about one user, want 1", n)
	}
	h.auth.down.Store(true)
	h.follow(t, h.auth.user(), star)
	h.auth.down.Store(false)

	ghost := uuid.NewString()
	a := h.auth.user()
	mustStatus(t, h.do(t, put(followPath(ghost), a)), http.StatusNotFound)
	h.auth.mu.Lock()
	h.auth.users[ghost] = "late"
	h.auth.mu.Unlock()
	h.follow(t, a, ghost)

	t.Run("disabled", func(t *testing.T) {
		h := newHarness(t, testenv.SQLite(t), func(vars map[string]string) { vars["USER_CACHE_TTL"] = "0s" })
		star := h.auth.user()
		before := h.auth.calls.Load()
		for range 3 {
			h.follow(t, h.auth.user(), star)
		}
		if n := h.auth.calls.Load() - before; n != 3 {
			t.Fatalf("auth asked %d times with the cache off, want 3", n)
		}
	})
}

// TestDatabaseDown: with PostgreSQL gone every route answers a generic 503, never a
// hang or a 500.
func TestDatabaseDown(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	h := newHarness(t, u.String(), nil)
	a, b := h.auth.user(), h.auth.user()
	h.follow(t, a, b)
	p.close()
	cases := []struct {
		name string
		c    call
	}{
		{"follow_503", put(followPath(h.auth.user()), a)},
		{"unfollow_503", del(followPath(b), a)},
		{"followers_503", get("/api/users/"+b+"/followers", a)},
		{"following_503", get("/api/users/"+a+"/following", a)},
		{"counts_503", get("/api/users/"+b+"/follow-counts", a)},
		{"internal_counts_503", get("/internal/follow-counts?user_ids="+b, a)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
	t.Run("readyz_503", func(t *testing.T) {
		mustStatus(t, h.do(t, get("/readyz", "")), http.StatusServiceUnavailable)
	})
}

// TestKafkaDown: follows are accepted while Kafka is away (their events wait in the
// outbox), and readiness says Kafka is missing.
func TestKafkaDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), func(vars map[string]string) { vars["KAFKA_BROKERS"] = closedPort(t) })
	a, b := h.auth.user(), h.auth.user()
	if got := h.follow(t, a, b); !got.Following || got.FollowersCount != 1 {
		t.Fatalf("follow = %+v", got)
	}
	rec := h.do(t, get("/readyz", ""))
	mustStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), `"kafka"`) {
		t.Fatalf("readyz = %s, want kafka listed as failed", rec.Body)
	}
}

// TestMetrics: the counters count follows that began and ended, not repeated requests.
func TestMetrics(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), nil)
	a, b, c := h.auth.user(), h.auth.user(), h.auth.user()
	h.follow(t, a, b)
	h.follow(t, a, b)
	h.follow(t, a, c)
	mustStatus(t, h.do(t, del(followPath(b), a)), http.StatusOK)
	mustStatus(t, h.do(t, del(followPath(b), a)), http.StatusOK)
	mustStatus(t, h.do(t, put(followPath(a), a)), http.StatusBadRequest)
	got := gather(t, h)
	if got["follows_created_total"] != 2 || got["follows_deleted_total"] != 1 {
		t.Fatalf("follows_created_total = %v, follows_deleted_total = %v, want 2 and 1",
			got["follows_created_total"], got["follows_deleted_total"])
	}
}

func gather(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	mfs, err := h.proc.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 && m.GetCounter() != nil {
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
