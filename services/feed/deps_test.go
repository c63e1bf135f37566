package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/testenv"
)

// TestRedisDown: with Redis gone the feed still answers, from the read model alone, the
// same posts; events keep being applied, and the timeline writes they queued reach Redis
// once it is back.
func TestRedisDown(t *testing.T) {
	m := miniredis.RunT(t)
	h := startHarness(t, env(testenv.SQLite(t), "redis://"+m.Addr()+"/0", testenv.Kafka(t, topics...)))
	viewer, author := h.user(t, "viewer"), h.user(t, "author")
	h.follow(t, viewer, author)
	h.followersAre(t, author, 1)
	p1 := h.post(t, author, "p1")
	h.feedIs(t, viewer, p1)
	h.like(t, p1, viewer)
	eventually(t, func() string {
		if it := h.feed(t, viewer).Items[0]; !it.LikedByMe || it.LikeCount != 1 {
			return fmt.Sprintf("item = %+v", it)
		}
		return ""
	})

	m.Close()
	fallback := metric(t, h.proc.Registry, `feed_reads_total{source="fallback"}`)
	p := h.feedIs(t, viewer, p1)
	if it := p.Items[0]; !it.LikedByMe || it.LikeCount != 1 || it.Author.Username != "author" {
		t.Fatalf("fallback item = %+v", it)
	}
	if metric(t, h.proc.Registry, `feed_reads_total{source="fallback"}`) == fallback {
		t.Fatal("no read counted as a fallback")
	}
	mustStatus(t, h.do(t, call{path: "/api/explore", as: viewer}), http.StatusOK)
	mustStatus(t, h.do(t, call{path: "/api/profiles/author", as: viewer}), http.StatusOK)
	mustStatus(t, h.do(t, call{path: "/readyz"}), http.StatusOK)

	// Events still apply; their fan-out waits in the queue.
	p2 := h.post(t, author, "p2")
	h.feedIs(t, viewer, p2, p1)
	eventually(t, func() string {
		if metric(t, h.proc.Registry, "feed_timeline_task_failures_total") == 0 {
			return "no timeline task failed while Redis was down"
		}
		return ""
	})

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		if !h.inTimeline(t, viewer, p2) {
			return "the queued fan-out did not reach Redis after it came back"
		}
		return ""
	})
	h.feedIs(t, viewer, p2, p1)
}

// TestOnlyStoresUp: with Kafka gone (and, as in every test here, no posts, likes,
// comments, follow or auth service at all) the feed keeps answering from its read model
// and Redis, counts included; readiness reports Kafka.
func TestOnlyStoresUp(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vars := env(testenv.Postgres(t), testenv.Redis(t), c.ListenAddrs())
	h := startHarness(t, vars)
	viewer, author := h.user(t, "reader"), h.user(t, "writer")
	h.follow(t, viewer, author)
	h.followersAre(t, author, 1)
	post := h.post(t, author, "still here")
	h.like(t, post, viewer)
	h.comment(t, post, author)
	eventually(t, func() string {
		p := h.feed(t, viewer)
		if len(p.Items) != 1 || p.Items[0].LikeCount != 1 || p.Items[0].CommentCount != 1 {
			return fmt.Sprintf("feed = %+v", p.Items)
		}
		return ""
	})
	c.Close()
	for range 3 {
		p := h.feed(t, viewer)
		if len(p.Items) != 1 || p.Items[0].ID != post || p.Items[0].LikeCount != 1 || p.Items[0].CommentCount != 1 || !p.Items[0].LikedByMe {
			t.Fatalf("feed without Kafka = %+v", p.Items)
		}
	}
	mustStatus(t, h.do(t, call{path: "/api/profiles/writer", as: viewer}), http.StatusOK)
	mustStatus(t, h.do(t, call{path: "/api/explore", as: viewer}), http.StatusOK)
	rec := h.do(t, call{path: "/readyz"})
	mustStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), `"kafka"`) {
		t.Fatalf("readyz = %s, want kafka listed as failed", rec.Body)
	}
}

// TestDatabaseDown: every route needs the read model and answers a generic 503 when it
// is gone.
func TestDatabaseDown(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	h := startHarness(t, env(u.String(), testenv.Redis(t), testenv.Kafka(t, topics...)))
	viewer := h.user(t, "dbdown")
	h.postsAre(t, viewer, 0)
	h.feedIs(t, viewer)
	p.close()
	for _, path := range []string{"/api/feed", "/api/explore", "/api/profiles/dbdown", "/api/profiles/id/" + viewer} {
		t.Run("get_503_"+strings.Trim(strings.ReplaceAll(path, "/", "_"), "_"), func(t *testing.T) {
			rec := h.do(t, call{path: path, as: viewer})
			mustStatus(t, rec, http.StatusServiceUnavailable)
			var eb errorBody
			decode(t, rec, &eb)
			if eb.Error.Code != "unavailable" {
				t.Fatalf("code = %q", eb.Error.Code)
			}
			low := strings.ToLower(rec.Body.String())
			for _, leak := range []string{"sql", "dial", "127.0.0.1", "postgres", "redis"} {
				if strings.Contains(low, leak) {
					t.Fatalf("503 body leaks %q: %s", leak, rec.Body)
				}
			}
		})
	}
	t.Run("readyz_503", func(t *testing.T) {
		rec := h.do(t, call{path: "/readyz"})
		mustStatus(t, rec, http.StatusServiceUnavailable)
		if !strings.Contains(rec.Body.String(), `"database"`) {
			t.Fatalf("readyz = %s, want database listed as failed", rec.Body)
		}
	})
}

// TestDeadLetter: records that break the contract go to feed.dlq without holding up the
// events behind them on the same partition.
func TestDeadLetter(t *testing.T) {
	h := startHarness(t, env(testenv.SQLite(t), miniRedis(t), testenv.Kafka(t, topics...)))
	author := h.user(t, "dlq")
	ctx := context.Background()
	if err := h.producer.Publish(ctx, usersTopic, author, []byte("not json"), nil); err != nil {
		t.Fatal(err)
	}
	h.publish(t, usersTopic, "user.updated", "auth", author, map[string]any{"id": "not-a-uuid", "username": "x"})
	h.publish(t, usersTopic, "user.updated", "auth", author, map[string]any{"id": author, "username": "dlq_renamed", "created_at": time.Now().UTC()})
	eventually(t, func() string {
		if _, ok := h.profile(t, author, "/api/profiles/dlq_renamed"); !ok {
			return "the rename behind the bad records was not applied"
		}
		return ""
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ConsumeTopics(dlqTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < 2 && deadline.Err() == nil {
		for _, r := range cl.PollFetches(deadline).Records() {
			got = append(got, string(r.Value))
		}
	}
	if len(got) != 2 || got[0] != "not json" || !strings.Contains(got[1], "not-a-uuid") {
		t.Fatalf("dead-lettered %q", got)
	}
}

// proxy cuts a dependency's connections on demand (testenv.Proxy).
type proxy struct{ *testenv.Proxy }

func startProxy(t *testing.T, target string) proxy { return proxy{testenv.StartProxy(t, target)} }
func (p proxy) addr() string                       { return p.Addr() }
func (p proxy) close()                             { p.Close() }
