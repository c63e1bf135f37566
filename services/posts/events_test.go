package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// publishUser sends a user.* event as auth's outbox would: keyed by the user id.
func publishUser(t *testing.T, p *events.Producer, typ, id, username string) {
	t.Helper()
	e, err := events.NewEnvelope(typ, "auth", id, map[string]any{"id": id, "username": username, "created_at": time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishEnvelope(context.Background(), usersTopic, e); err != nil {
		t.Fatal(err)
	}
}

// waitUsername polls a post until it shows username.
func waitUsername(t *testing.T, h *harness, id, username string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := h.do(t, call{method: "GET", path: "/api/posts/" + id, as: newUser()})
		mustStatus(t, rec, http.StatusOK)
		got := data[postJSON](t, rec).Username
		if got == username {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("username = %q, want %q in time", got, username)
		}
		time.Sleep(50 * time.Millisecond)
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

// TestUserEvents consumes auth's user.created and user.updated: authors' names appear on
// their posts, old and new, and follow renames; a malformed record is dead-lettered
// without holding up the ones behind it.
func TestUserEvents(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t))
			p, err := events.NewProducer(events.Conn{Brokers: h.brokers}, "test-auth", logging.Discard(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()

			user := newUser()
			early := h.createPost(t, user, "posted before posts heard of the account")
			if early.Username != "" {
				t.Fatalf("username = %q before any user event", early.Username)
			}
			// Same key, so the malformed record sits in front of the good ones.
			if err := p.Publish(context.Background(), usersTopic, user, []byte("not json"), nil); err != nil {
				t.Fatal(err)
			}
			publishUser(t, p, "user.created", user, "alice")
			waitUsername(t, h, early.ID, "alice")
			if later := h.createPost(t, user, "after"); later.Username != "alice" {
				t.Fatalf("new post username = %q, want alice", later.Username)
			}
			publishUser(t, p, "user.updated", user, "alice_renamed")
			waitUsername(t, h, early.ID, "alice_renamed")
			rec := waitRecord(t, h.brokers, dlqTopic)
			if string(rec.Value) != "not json" {
				t.Fatalf("dead-lettered %q", rec.Value)
			}
		})
	}
}

// TestOutboxWaitsForKafka creates posts while no broker answers: the requests succeed
// (the events wait in the outbox), readiness reports Kafka, and the events leave once a
// broker is there.
func TestOutboxWaitsForKafka(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)

	files := newFakeFiles(t)
	h := startApp(t, env(testenv.SQLite(t), []string{addr}, files.addr()))
	h.files = files
	p := h.createPost(t, newUser(), "written while Kafka is away")
	rec := h.do(t, call{method: "GET", path: "/readyz"})
	mustStatus(t, rec, http.StatusServiceUnavailable)

	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatalf("start Kafka on the address the app was given: %v", err)
	}
	t.Cleanup(c.Close)
	h.events = newTopicReader(t, []string{addr}, postsTopic)
	if ev := h.event(t, "post.created", p.ID); ev["caption"] != p.Caption {
		t.Fatalf("post.created data = %v", ev)
	}
}
