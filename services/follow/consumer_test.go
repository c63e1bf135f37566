package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/services/follow/internal/followevents"
)

// These tests publish user.* events as auth does through its outbox (keyed by user id),
// some of them twice, as a relay that crashed between publishing and marking does, and
// watch the consumer (group "follow").

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

// counts reads a user's follow counts through the API.
func (h *harness) counts(t *testing.T, viewer, user string) relationBody {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/users/" + user + "/follow-counts", as: viewer})
	mustStatus(t, rec, http.StatusOK)
	var r relationBody
	decode(t, rec, &r)
	return r
}

// TestUserDeleted: user.deleted removes the account from the graph: every follow it
// made and every follow of it, each with one follow.deleted (the feed drops what they
// fed), the counts of the users at the other end drop, and nobody else's follow moves;
// the event delivered twice counts and emits once. A poison record in front of it goes
// to the dead-letter topic without holding it up.
func TestUserDeleted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			p := producer(t, h)
			leaving, a, bob, carol := h.auth.user(), h.auth.user(), h.auth.user(), h.auth.user()
			theirs := [][2]string{{leaving, a}, {leaving, bob}, {carol, leaving}, {a, leaving}}
			for _, e := range append(theirs, [2]string{a, bob}) {
				h.follow(t, e[0], e[1])
			}

			// Keyed by the account, so the poison record sits in front of the event.
			if err := p.Publish(context.Background(), usersTopic, leaving, []byte("not json"), nil); err != nil {
				t.Fatal(err)
			}
			publish(t, p, usersTopic, "user.deleted", leaving, map[string]string{"id": leaving}, 2)
			settle(t, h, usersTopic, 2)

			for _, e := range theirs {
				h.events.wait(t, followevents.TypeDeleted, e[0], e[1])
			}
			// Events of one follower arrive in order, and a follow.deleted of each follower
			// was waited for: any repeat would be counted by now.
			for _, e := range theirs {
				if n := h.events.count(followevents.TypeDeleted, e[0], e[1]); n != 1 {
					t.Fatalf("%d follow.deleted for %s -> %s, want 1", n, e[0], e[1])
				}
			}
			for _, tc := range []struct {
				user                 string
				followers, following int64
			}{{leaving, 0, 0}, {a, 0, 1}, {bob, 1, 0}, {carol, 0, 0}} {
				got := h.counts(t, bob, tc.user)
				if got.FollowersCount != tc.followers || got.FollowingCount != tc.following {
					t.Fatalf("counts of %s = %d followers, %d following; want %d, %d",
						tc.user, got.FollowersCount, got.FollowingCount, tc.followers, tc.following)
				}
			}
			if got := h.list(t, "/api/users/"+bob+"/followers", bob).ids(); len(got) != 1 || got[0] != a {
				t.Fatalf("bob's followers = %v, want [%s]", got, a)
			}
			if n := metricValue(t, h.proc.Registry, "follows_purged_total", nil); n != 4 {
				t.Fatalf("follows_purged_total = %v, want 4", n)
			}
			if rec := waitRecord(t, h.brokers, dlqTopic); string(rec.Value) != "not json" {
				t.Fatalf("dead-lettered %q", rec.Value)
			}
		})
	}
}
