package feedevents

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
)

// TestContractBreaches: records that are not the contract's events are permanent errors
// (the runner dead-letters them at once) and never reach the projector; other services'
// event types are skipped.
func TestContractBreaches(t *testing.T) {
	h := Handler(nil) // a call into the projector would panic
	id := uuid.NewString()
	record := func(typ string, data any) *kgo.Record {
		e, err := events.NewEnvelope(typ, "test", id, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Value: raw}
	}
	for name, rec := range map[string]*kgo.Record{
		"not_json":                  {Value: []byte("{")},
		"no_type":                   {Value: []byte(`{"id":"x","data":{}}`)},
		"user_data_not_object":      record(TypeUserCreated, "alice"),
		"user_without_name":         record(TypeUserCreated, map[string]any{"id": id}),
		"user_bad_id":               record(TypeUserUpdated, map[string]any{"id": "1", "username": "a"}),
		"user_deleted_bad_id":       record(TypeUserDeleted, map[string]any{"id": "ABC"}),
		"post_without_image":        record(TypePostCreated, map[string]any{"id": id, "user_id": id, "created_at": "2026-01-01T00:00:00Z"}),
		"post_without_time":         record(TypePostCreated, map[string]any{"id": id, "user_id": id, "image_key": "k"}),
		"post_bad_time":             record(TypePostCreated, map[string]any{"id": id, "user_id": id, "image_key": "k", "created_at": "soon"}),
		"post_deleted_without_user": record(TypePostDeleted, map[string]any{"id": id}),
		"follow_bad_ids":            record(TypeFollowCreated, map[string]any{"follower_id": id, "followee_id": "me"}),
		"like_without_user":         record(TypeLikeCreated, map[string]any{"post_id": id}),
		"comment_without_id":        record(TypeCommentCreated, map[string]any{"post_id": id, "user_id": id}),
		"comment_deleted_bad_post":  record(TypeCommentDeleted, map[string]any{"id": id, "post_id": "p"}),
	} {
		t.Run(name, func(t *testing.T) {
			if err := h(context.Background(), rec); !events.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
		})
	}
	t.Run("other_types_skipped", func(t *testing.T) {
		if err := h(context.Background(), record("email.requested", map[string]any{"to": "x"})); err != nil {
			t.Fatalf("err = %v", err)
		}
	})
}
