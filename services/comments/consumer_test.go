package main

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
)

// These tests publish post.* and user.* events as posts and auth do through their
// outboxes (keyed by post id and user id), some of them twice, as a relay that crashed
// between publishing and marking does, and watch the consumer (group "comments").

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

func ids(l listJSON) []string {
	out := []string{}
	for _, c := range l.Items {
		out = append(out, c.ID)
	}
	return out
}

// TestPostDeleted: post.deleted takes every comment of the post with it and emits
// nothing per comment; other posts keep theirs; the event delivered twice purges once.
// A poison record in front of it goes to the dead-letter topic without holding it up.
func TestPostDeleted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			p := producer(t, h)
			owner, alice, bob := newUser(), newUser(), newUser()
			post, other := h.posts.add(owner), h.posts.add(owner)
			for _, u := range []string{alice, bob, alice} {
				h.comment(t, u, post, "on the deleted post")
			}
			kept := h.comment(t, alice, other, "on another post")

			// Keyed by the post, so the poison record sits in front of the event.
			if err := p.Publish(context.Background(), postsTopic, post, []byte("not json"), nil); err != nil {
				t.Fatal(err)
			}
			publish(t, p, postsTopic, "post.deleted", post, map[string]string{"id": post, "user_id": owner, "image_key": "users/" + owner + "/a.jpg"}, 2)
			settle(t, h, postsTopic, 2)

			if got := ids(h.list(t, alice, post, "")); len(got) != 0 {
				t.Fatalf("comments of the deleted post left: %v", got)
			}
			if got := ids(h.list(t, alice, other, "")); len(got) != 1 || got[0] != kept.ID {
				t.Fatalf("comments of another post = %v, want [%s]", got, kept.ID)
			}
			if n := metricValue(t, h.proc.Registry, "comments_purged_total", map[string]string{"reason": "post_deleted"}); n != 3 {
				t.Fatalf("comments_purged_total{post_deleted} = %v, want 3", n)
			}
			if n := eventCount(t, h, "comment.deleted"); n != 0 {
				t.Fatalf("%d comment.deleted events for a post that is gone", n)
			}
			if rec := waitRecord(t, h.brokers, dlqTopic); string(rec.Value) != "not json" {
				t.Fatalf("dead-lettered %q", rec.Value)
			}
		})
	}
}

// TestUserDeleted: user.deleted takes every comment of the account with it, on anyone's
// post, each with one comment.deleted keyed by its post (so posts' counts drop), and
// nobody else's; the event delivered twice emits once.
func TestUserDeleted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			p := producer(t, h)
			leaving, staying := newUser(), newUser()
			post, other := h.posts.add(staying), h.posts.add(newUser())
			var theirs []commentJSON
			for _, on := range []string{post, other, post} {
				theirs = append(theirs, h.comment(t, leaving, on, "mine"))
			}
			kept := h.comment(t, staying, post, "not theirs")

			publish(t, p, usersTopic, "user.deleted", leaving, map[string]string{"id": leaving}, 2)
			settle(t, h, usersTopic, 2)

			for _, c := range theirs {
				e, d := h.event(t, "comment.deleted", c.ID)
				if e.Key != c.PostID || d["post_id"] != c.PostID || d["user_id"] != leaving || e.Producer != "comments" {
					t.Fatalf("comment.deleted = %+v %v", e, d)
				}
			}
			if n := eventCount(t, h, "comment.deleted"); n != 0 {
				t.Fatalf("%d comment.deleted events beyond one per comment", n)
			}
			if got := ids(h.list(t, staying, post, "")); len(got) != 1 || got[0] != kept.ID {
				t.Fatalf("comments left on the post = %v, want [%s]", got, kept.ID)
			}
			if got := ids(h.list(t, staying, other, "")); len(got) != 0 {
				t.Fatalf("comments left on the other post = %v", got)
			}
			if n := metricValue(t, h.proc.Registry, "comments_purged_total", map[string]string{"reason": "user_deleted"}); n != 3 {
				t.Fatalf("comments_purged_total{user_deleted} = %v, want 3", n)
			}
		})
	}
}
