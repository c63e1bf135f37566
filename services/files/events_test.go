package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
)

// These tests publish events to the app's Kafka cluster, as auth and posts do through
// their outboxes, and watch the consumer (group "files") act on the real S3 server.

// publish sends an envelope to topic, keyed like the producers key it.
func (h *harness) publish(t *testing.T, topic, typ, key string, data any) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(typ, "test", key, data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := events.NewProducer(events.Conn{Brokers: h.cfg.Brokers}, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.PublishEnvelope(ctx, topic, e); err != nil {
		t.Fatal(err)
	}
	return e
}

// publishRaw sends a value that is not an envelope at all.
func (h *harness) publishRaw(t *testing.T, topic, key, value string) {
	t.Helper()
	p, err := events.NewProducer(events.Conn{Brokers: h.cfg.Brokers}, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(ctx, topic, key, []byte(value), nil); err != nil {
		t.Fatal(err)
	}
}

// keys lists the objects under prefix.
func (h *harness) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for o := range h.s3.ListObjectsIter(context.Background(), h.cfg.S3Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

// dlq waits for a record on the dead-letter topic whose value contains want.
func (h *harness) dlq(t *testing.T, want string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cfg.Brokers...), kgo.ConsumeTopics(dlqTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		var found *kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			if strings.Contains(string(r.Value), want) {
				found = r
			}
		})
		if found != nil {
			return found
		}
	}
	t.Fatalf("no record with %q reached %s", want, dlqTopic)
	return nil
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestUserDeleted_removesEveryObjectOfThatUserOnly(t *testing.T) {
	h := newHarness(t, env(t))
	gone, kept := uuid.New(), uuid.New()
	for range 3 {
		h.upload(t, gone, "a.jpg", []byte("mine"))
	}
	// Whatever lies under the prefix goes, not only what this service handed out.
	h.putObject(t, "users/"+gone.String()+"/avatar.png", []byte("avatar"))
	keptKeys := []string{h.upload(t, kept, "a.jpg", []byte("theirs")), h.upload(t, kept, "b.png", []byte("theirs"))}
	if n := len(h.keys(t, "users/"+gone.String()+"/")); n != 4 {
		t.Fatalf("%d objects before the purge, want 4", n)
	}

	h.publish(t, userTopic, "user.deleted", gone.String(), map[string]string{"id": gone.String()})
	eventually(t, "the user's objects to go", func() bool { return len(h.keys(t, "users/"+gone.String()+"/")) == 0 })
	if got := h.keys(t, "users/"+kept.String()+"/"); len(got) != len(keptKeys) {
		t.Fatalf("the other user's objects: %v, want %v", got, keptKeys)
	}
	eventually(t, "the purge to be counted", func() bool {
		return h.metric(t, "files_deleted_total", map[string]string{"reason": "user_deleted"}) == 4
	})

	// Redelivered, the event finds nothing left to do and is not dead-lettered.
	h.publish(t, userTopic, "user.deleted", gone.String(), map[string]string{"id": gone.String()})
	// user.created and others on the topic are not this service's business.
	h.publish(t, userTopic, "user.created", kept.String(), map[string]string{"id": kept.String(), "username": "kept"})
	eventually(t, "the later events to be consumed", func() bool {
		return h.metric(t, "events_consumed_total", map[string]string{"topic": userTopic}) == 3
	})
	if n := h.metric(t, "events_dead_lettered_total", map[string]string{"topic": userTopic}); n != 0 {
		t.Errorf("%v user events dead-lettered, want 0", n)
	}
	if got := h.keys(t, "users/"+kept.String()+"/"); len(got) != len(keptKeys) {
		t.Fatalf("the other user's objects after redelivery: %v", got)
	}
}

func TestPostDeleted_removesTheImage(t *testing.T) {
	h := newHarness(t, env(t))
	author := uuid.New()
	image := h.upload(t, author, "a.jpg", []byte("post image"))
	other := h.upload(t, author, "b.jpg", []byte("another post's image"))
	post := uuid.NewString()
	data := map[string]string{"id": post, "user_id": author.String(), "image_key": image}

	h.publish(t, postTopic, "post.deleted", post, data)
	eventually(t, "the image to go", func() bool { return !h.exists(t, image) })
	if !h.exists(t, other) {
		t.Fatal("the author's other image went too")
	}
	eventually(t, "the deletion to be counted", func() bool {
		return h.metric(t, "files_deleted_total", map[string]string{"reason": "post_deleted"}) == 1
	})

	// Redelivery: the image is gone already, which is what the event wants.
	h.publish(t, postTopic, "post.deleted", post, data)
	h.publish(t, postTopic, "post.updated", post, map[string]any{"id": post, "user_id": author.String(), "image_key": other})
	eventually(t, "the later events to be consumed", func() bool {
		return h.metric(t, "events_consumed_total", map[string]string{"topic": postTopic}) == 3
	})
	if got := h.metric(t, "files_deleted_total", map[string]string{"reason": "post_deleted"}); got != 1 {
		t.Errorf("files_deleted_total{reason=post_deleted} = %v after the redelivery, want 1", got)
	}
	if !h.exists(t, other) {
		t.Fatal("post.updated deleted an image")
	}
}

// An event naming someone else's image, or one that is not an envelope, never deletes:
// it goes to the dead-letter topic, where an operator sees it.
func TestPostDeleted_refusedEventsAreDeadLettered(t *testing.T) {
	h := newHarness(t, env(t))
	victim := uuid.New()
	image := h.upload(t, victim, "a.jpg", []byte("not yours"))
	post := uuid.NewString()
	h.publish(t, postTopic, "post.deleted", post, map[string]string{"id": post, "user_id": uuid.NewString(), "image_key": image})
	rec := h.dlq(t, post)
	if header(rec, events.HeaderDLQTopic) != postTopic || header(rec, events.HeaderDLQGroup) != consumerGroup {
		t.Errorf("dead-letter headers %v", rec.Headers)
	}
	if !h.exists(t, image) {
		t.Fatal("a post.deleted of another author deleted the image")
	}

	h.publishRaw(t, userTopic, "k", "not an envelope")
	h.dlq(t, "not an envelope")
	h.publish(t, userTopic, "user.deleted", "x", map[string]string{"id": "x-not-a-uuid"})
	h.dlq(t, "x-not-a-uuid")
}
