package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// These tests publish events as likes, comments and auth do through their outboxes
// (keyed by post id, or by user id for user.*), some of them twice, as a relay that
// crashed between publishing and marking does, and watch the consumer (group "posts").

// producer is a Kafka producer standing in for the other services.
func producer(t *testing.T, h *harness) *events.Producer {
	t.Helper()
	p, err := events.NewProducer(events.Conn{Brokers: h.brokers}, "test-peers", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// peerEvent builds an event of another service.
func peerEvent(t *testing.T, typ, producer, key string, data any) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(typ, producer, key, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// publish sends each envelope to topic, in order.
func publish(t *testing.T, p *events.Producer, topic string, es ...events.Envelope) {
	t.Helper()
	for _, e := range es {
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

// settle waits until the consumer has handled n records of topic (successfully; the
// dead-lettered ones are not counted), so what it did can be asserted exactly.
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

// getPost reads a post through the API.
func getPost(t *testing.T, h *harness, id string) (postJSON, int) {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/posts/" + id, as: newUser()})
	if rec.Code != http.StatusOK {
		return postJSON{}, rec.Code
	}
	return data[postJSON](t, rec), rec.Code
}

// TestCounts: like.* and comment.* events move the counts on posts exactly once each,
// however often they are delivered; an event about a post that is gone changes nothing;
// a poison record goes to the dead-letter topic and the records behind it are applied.
func TestCounts(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t))
			p := producer(t, h)
			target := h.createPost(t, newUser(), "counted")
			gone := newUser() // a post id posts never had (deleted before its likes arrived)
			alice, bob, carol := newUser(), newUser(), newUser()
			like := func(typ, user string) events.Envelope {
				return peerEvent(t, typ, "likes", target.ID, map[string]any{"post_id": target.ID, "user_id": user, "created_at": time.Now().UTC()})
			}
			comment := func(typ, user string) events.Envelope {
				id := newUser()
				return peerEvent(t, typ, "comments", target.ID, map[string]any{"id": id, "post_id": target.ID, "user_id": user, "body": "b"})
			}

			// Keyed by the post, so the poison record sits in front of the good ones.
			if err := p.Publish(context.Background(), likesTopic, target.ID, []byte("not json"), nil); err != nil {
				t.Fatal(err)
			}
			l1, l2, l3 := like("like.created", alice), like("like.created", bob), like("like.created", carol)
			u1 := like("like.deleted", alice)
			publish(t, p, likesTopic, l1, l1, l2, l3, l2, u1, u1)
			publish(t, p, likesTopic, peerEvent(t, "like.created", "likes", gone, map[string]any{"post_id": gone, "user_id": alice}))
			c1, c2 := comment("comment.created", alice), comment("comment.created", bob)
			d1 := peerEvent(t, "comment.deleted", "comments", target.ID, map[string]any{"id": "x", "post_id": target.ID, "user_id": alice})
			publish(t, p, commentsTopic, c1, c2, c1, d1, d1)

			settle(t, h, likesTopic, 8)
			settle(t, h, commentsTopic, 5)
			got, status := getPost(t, h, target.ID)
			if status != http.StatusOK || got.LikeCount != 2 || got.CommentCount != 1 {
				t.Fatalf("status %d, like_count = %d, comment_count = %d; want 2 and 1 (each event once)",
					status, got.LikeCount, got.CommentCount)
			}
			rec := h.do(t, call{method: "GET", path: "/api/posts?limit=100", as: alice})
			mustStatus(t, rec, http.StatusOK)
			for _, lp := range data[listJSON](t, rec).Posts {
				if lp.ID == target.ID && (lp.LikeCount != 2 || lp.CommentCount != 1) {
					t.Fatalf("list shows like_count %d, comment_count %d", lp.LikeCount, lp.CommentCount)
				}
			}
			if rec := waitRecord(t, h.brokers, dlqTopic); string(rec.Value) != "not json" {
				t.Fatalf("dead-lettered %q", rec.Value)
			}
		})
	}
}

// TestAccountDeletion: user.deleted takes every post of the account with it, each with
// one post.deleted for files, comments, likes and the feed, and nobody else's; the
// event delivered twice purges once. (postdb's TestPurgeAuthor covers the batches, a
// purge cut short and the author's name.)
func TestAccountDeletion(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t))
			p := producer(t, h)
			leaving, staying := newUser(), newUser()
			publishUser(t, p, "user.created", leaving, "leaving")
			var theirs []postJSON
			for range 3 {
				theirs = append(theirs, h.createPost(t, leaving, "mine"))
			}
			other := h.createPost(t, staying, "not theirs")
			settle(t, h, usersTopic, 1)

			del := peerEvent(t, "user.deleted", "auth", leaving, map[string]string{"id": leaving})
			publish(t, p, usersTopic, del, del)
			settle(t, h, usersTopic, 3)

			for _, mine := range theirs {
				if _, status := getPost(t, h, mine.ID); status != http.StatusNotFound {
					t.Fatalf("post of the deleted account answers %d", status)
				}
				d := h.event(t, "post.deleted", mine.ID)
				if d["user_id"] != leaving || d["image_key"] != mine.ImageKey {
					t.Fatalf("post.deleted data = %v", d)
				}
			}
			if _, status := getPost(t, h, other.ID); status != http.StatusOK {
				t.Fatalf("another user's post answers %d", status)
			}
			extra := 0
			h.events.mu.Lock()
			for _, e := range h.events.seen {
				if e.Type == "post.deleted" {
					extra++
				}
			}
			h.events.mu.Unlock()
			if extra != 0 {
				t.Fatalf("%d post.deleted events beyond one per post", extra)
			}
			if got := metricValue(t, h.proc.Registry, "posts_purged_total", nil); got != 3 {
				t.Fatalf("posts_purged_total = %v, want 3", got)
			}
		})
	}
}

// TestPostDeletedPayload guards what the purge publishes: the contract's post.deleted
// data, nothing more.
func TestPostDeletedPayload(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t))
	p := producer(t, h)
	user := newUser()
	mine := h.createPost(t, user, "x")
	publish(t, p, usersTopic, peerEvent(t, "user.deleted", "auth", user, map[string]string{"id": user}))
	var raw map[string]json.RawMessage
	h.events.wait(t, func(e events.Envelope) bool {
		return e.Type == "post.deleted" && e.Key == mine.ID && json.Unmarshal(e.Data, &raw) == nil
	})
	if len(raw) != 3 || raw["id"] == nil || raw["user_id"] == nil || raw["image_key"] == nil {
		t.Fatalf("post.deleted data = %v", raw)
	}
}
