package main

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

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
	for _, leak := range []string{"files", "kafka", "sql", "dial", "127.0.0.1", "postgres"} {
		if strings.Contains(low, leak) {
			t.Fatalf("503 body leaks %q: %s", leak, rec.Body)
		}
	}
}

// TestFilesDown: without the files service no post can be created (503), and every
// read still answers.
func TestFilesDown(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t))
	user := newUser()
	existing := h.createPost(t, user, "before the outage")
	key := h.files.upload(user, "next.jpg", jpeg, 100)
	body := map[string]string{"caption": "during", "image_key": key}

	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadRequest} {
		t.Run("create_503_files_answers_"+http.StatusText(status), func(t *testing.T) {
			h.files.setStatus(status)
			defer h.files.setStatus(0)
			unavailable(t, h, create(user, body))
		})
	}
	t.Run("reads_200_meanwhile", func(t *testing.T) {
		h.files.setStatus(http.StatusServiceUnavailable)
		defer h.files.setStatus(0)
		mustStatus(t, h.do(t, call{method: "GET", path: "/api/posts/" + existing.ID, as: user}), http.StatusOK)
		mustStatus(t, h.do(t, call{method: "GET", path: "/api/posts", as: user}), http.StatusOK)
		mustStatus(t, h.do(t, call{method: "GET", path: "/readyz"}), http.StatusOK)
	})
	t.Run("create_201_after", func(t *testing.T) {
		mustStatus(t, h.do(t, create(user, body)), http.StatusCreated)
	})
}

// TestFilesUnreachable: a files address where nothing listens, and a files service that
// does not answer within FILES_TIMEOUT, are both a quick 503.
func TestFilesUnreachable(t *testing.T) {
	t.Run("create_503_refused", func(t *testing.T) {
		h := startApp(t, env(testenv.SQLite(t), testenv.Kafka(t, topics...), closedPort(t)))
		user := newUser()
		unavailable(t, h, create(user, map[string]string{"image_key": "users/" + user + "/a.jpg"}))
	})
	t.Run("create_503_timeout", func(t *testing.T) {
		// Accepts connections and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		vars := env(testenv.SQLite(t), testenv.Kafka(t, topics...), ln.Addr().String())
		vars["FILES_TIMEOUT"] = "200ms"
		h := startApp(t, vars)
		user := newUser()
		unavailable(t, h, create(user, map[string]string{"image_key": "users/" + user + "/a.jpg"}))
	})
}

// TestDatabaseDown: every route that needs the database answers 503 when it is gone.
func TestDatabaseDown(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	h := newHarness(t, u.String())
	user := newUser()
	post := h.createPost(t, user, "x")
	key := h.files.upload(user, "b.jpg", jpeg, 10)
	p.close()
	cases := []struct {
		name string
		c    call
	}{
		{"get_503", call{method: "GET", path: "/api/posts/" + post.ID, as: user}},
		{"list_503", call{method: "GET", path: "/api/posts?page=1&page_size=20", as: user}},
		{"user_posts_503", call{method: "GET", path: "/api/users/" + user + "/posts", as: user}},
		{"tag_posts_503", call{method: "GET", path: "/api/tags/x/posts", as: user}},
		{"create_503", create(user, map[string]string{"image_key": key})},
		{"patch_503", call{method: "PATCH", path: "/api/posts/" + post.ID, as: user, body: map[string]string{"caption": "y"}}},
		{"delete_503", call{method: "DELETE", path: "/api/posts/" + post.ID, as: user}},
		{"internal_503", call{method: "GET", path: "/internal/posts/" + post.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
	t.Run("readyz_503", func(t *testing.T) {
		rec := h.do(t, call{method: "GET", path: "/readyz"})
		mustStatus(t, rec, http.StatusServiceUnavailable)
		if !strings.Contains(rec.Body.String(), `"database"`) {
			t.Fatalf("readyz = %s, want database listed as failed", rec.Body)
		}
	})
}

// TestMetrics checks the domain counters in the process registry.
func TestMetrics(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t))
	user := newUser()
	a := h.createPost(t, user, "a")
	b := h.createPost(t, user, "b")
	h.createPost(t, user, "c")
	mustStatus(t, h.do(t, call{method: "PATCH", path: "/api/posts/" + a.ID, as: user, body: map[string]string{"caption": "a2"}}), http.StatusOK)
	mustStatus(t, h.do(t, call{method: "PATCH", path: "/api/posts/" + a.ID, as: user, body: map[string]string{"caption": "a2"}}), http.StatusOK) // no change
	mustStatus(t, h.do(t, call{method: "DELETE", path: "/api/posts/" + b.ID, as: newUser()}), http.StatusForbidden)
	mustStatus(t, h.do(t, call{method: "DELETE", path: "/api/posts/" + b.ID, as: user}), http.StatusOK)
	got := gather(t, h.proc.Registry)
	for name, want := range map[string]float64{"posts_created_total": 3, "posts_updated_total": 1, "posts_deleted_total": 1} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
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
