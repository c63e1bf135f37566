package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
)

// These tests publish post.* and user.* events as posts and auth do through their
// outboxes (keyed by post id and user id), some of them twice, as a relay that crashed
// between publishing and marking does, and watch the consumer (group "likes").

func producer(t *testing.T, h *harness) *events.Producer {
	t.Helper()
	p, err := events.NewProducer(events.Conn{Brokers: h.brokers}, "test-peers", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// publish sends an event of another service to topic, count times (the same envelope).
func publish(t *testing.T, p *events.Producer, topic, typ, key string, data any, count int) {
	t.Helper()
	e, err := events.NewEnvelope(typ, "test", key, data)
	if err != nil {
		t.Fatal(err)
	}
	for range count {
		if err := p.PublishEnvelope(context.Background(), topic, e); err != nil {
			t.Fatal(err)
		}
	}
}

// metricValue is the value of the counter name with exactly these labels, or 0.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// settle waits until the consumer has handled n records of topic (dead-lettered ones
// not counted), so what it did can be asserted exactly.
func settle(t *testing.T, h *harness, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metricValue(t, h.proc.Registry, "events_consumed_total", map[string]string{"topic": topic})
		if got == float64(n) {
			return
		}
		if got > float64(n) || time.Now().After(deadline) {
			t.Fatalf("consumer handled %v records of %s, want %d", got, topic, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRecord returns the first record on topic, polling with a deadline.
func waitRecord(t *testing.T, brokers []string, topic string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if recs := cl.PollFetches(ctx).Records(); len(recs) > 0 {
			return recs[0]
		}
	}
	t.Fatalf("no record on %s in time", topic)
	return nil
}

// summaries reads the like counts of posts as viewer sees them.
func (h *harness) summaries(t *testing.T, viewer string, posts ...string) []summaryJSON {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/likes?post_ids=" + strings.Join(posts, ","), as: viewer})
	mustStatus(t, rec, http.StatusOK)
	var s summariesJSON
	decode(t, rec, &s)
	return s.Items
}

// TestPostDeleted: post.deleted takes every like of the post and its count with it and
// emits nothing per like; other posts keep theirs; the event delivered twice purges
// once. A poison record in front of it goes to the dead-letter topic without holding it
// up.
func TestPostDeleted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			p := producer(t, h)
			owner, alice, bob, carol := newUser(), newUser(), newUser(), newUser()
			post, other := h.posts.add(owner), h.posts.add(owner)
			for _, u := range []string{alice, bob, carol} {
				h.like(t, u, post)
			}
			h.like(t, alice, other)

			// Keyed by the post, so the poison record sits in front of the event.
			if err := p.Publish(context.Background(), postsTopic, post, []byte("not json"), nil); err != nil {
				t.Fatal(err)
			}
			publish(t, p, postsTopic, "post.deleted", post, map[string]string{"id": post, "user_id": owner, "image_key": "users/" + owner + "/a.jpg"}, 2)
			settle(t, h, postsTopic, 2)

			want := []summaryJSON{{PostID: post}, {PostID: other, LikeCount: 1, LikedByMe: true}}
			if diff := cmp.Diff(want, h.summaries(t, alice, post, other)); diff != "" {
				t.Fatalf("summaries (-want +got):\n%s", diff)
			}
			if l := h.likers(t, alice, post, ""); len(l.Items) != 0 || l.LikeCount != 0 {
				t.Fatalf("likers of the deleted post = %+v", l)
			}
			if n := metricValue(t, h.proc.Registry, "likes_purged_total", map[string]string{"reason": "post_deleted"}); n != 3 {
				t.Fatalf("likes_purged_total{post_deleted} = %v, want 3", n)
			}
			if got := h.likeEvents(t, "like.deleted", post); len(got) != 0 {
				t.Fatalf("like.deleted events for a post that is gone: %v", got)
			}
			if rec := waitRecord(t, h.brokers, dlqTopic); string(rec.Value) != "not json" {
				t.Fatalf("dead-lettered %q", rec.Value)
			}
		})
	}
}

// TestUserDeleted: user.deleted takes every like of the account with it, the counts of
// the posts it liked drop by one each, each removal is one like.deleted keyed by its post
// (so posts' like counts drop), and nobody else's like moves; the event delivered twice
// counts and emits once.
func TestUserDeleted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			p := producer(t, h)
			leaving, staying := newUser(), newUser()
			posts := []string{h.posts.add(newUser()), h.posts.add(newUser()), h.posts.add(leaving)}
			for _, post := range posts {
				h.like(t, leaving, post)
			}
			h.like(t, staying, posts[0])

			publish(t, p, usersTopic, "user.deleted", leaving, map[string]string{"id": leaving}, 2)
			settle(t, h, usersTopic, 2)

			for _, post := range posts {
				e, d := h.event(t, "like.deleted", post, leaving)
				if e.Producer != "likes" || d["post_id"] != post || d["created_at"] == nil {
					t.Fatalf("like.deleted = %+v %v", e, d)
				}
			}
			if n := h.events.count(t, func(e events.Envelope) bool { return e.Type == "like.deleted" }); n != 0 {
				t.Fatalf("%d like.deleted events beyond one per like", n)
			}
			want := []summaryJSON{{PostID: posts[0], LikeCount: 1, LikedByMe: true}, {PostID: posts[1]}, {PostID: posts[2]}}
			if diff := cmp.Diff(want, h.summaries(t, staying, posts...)); diff != "" {
				t.Fatalf("summaries (-want +got):\n%s", diff)
			}
			for _, s := range h.summaries(t, leaving, posts...) {
				if s.LikedByMe {
					t.Fatalf("the deleted account still likes %s", s.PostID)
				}
			}
			if n := metricValue(t, h.proc.Registry, "likes_purged_total", map[string]string{"reason": "user_deleted"}); n != 3 {
				t.Fatalf("likes_purged_total{user_deleted} = %v, want 3", n)
			}
		})
	}
}
