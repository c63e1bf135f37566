package postevents

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
)

// recorder is a Store that records the calls it gets; err, when set, is every answer.
type recorder struct {
	calls []string
	err   error
}

func (r *recorder) SetAuthor(_ context.Context, consumer, eventID, userID, username string) error {
	r.calls = append(r.calls, "author "+consumer+" "+eventID+" "+userID+" "+username)
	return r.err
}

func (r *recorder) AddToCount(_ context.Context, consumer, eventID, postID string, c Counter, delta int) error {
	name := map[Counter]string{LikeCount: "likes", CommentCount: "comments"}[c]
	r.calls = append(r.calls, "count "+consumer+" "+eventID+" "+postID+" "+name+" "+map[int]string{1: "+1", -1: "-1"}[delta])
	return r.err
}

func (r *recorder) PurgeAuthor(_ context.Context, consumer, eventID, userID string, batch int) (int, error) {
	if batch != PurgeBatch {
		return 0, errors.New("unexpected batch")
	}
	r.calls = append(r.calls, "purge "+consumer+" "+eventID+" "+userID)
	return 2, r.err
}

const (
	postID = "0190f1c2-7a3b-7c4d-8e5f-000000000001"
	userID = "0190f1c2-7a3b-7c4d-8e5f-00000000000a"
)

func record(t *testing.T, typ string, data any) *kgo.Record {
	t.Helper()
	e, err := events.NewEnvelope(typ, "test", "k", data)
	if err != nil {
		t.Fatal(err)
	}
	e.ID = "ev"
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Value: raw}
}

// TestHandle routes each event type to its effect and sorts what cannot be applied into
// permanent failures (dead-lettered at once) and skips.
func TestHandle(t *testing.T) {
	tests := []struct {
		name      string
		rec       *kgo.Record
		want      []string
		permanent bool
	}{
		{"user_created", record(t, TypeUserCreated, map[string]string{"id": userID, "username": "al"}), []string{"author posts ev " + userID + " al"}, false},
		{"user_updated", record(t, TypeUserUpdated, map[string]string{"id": userID, "username": "al2"}), []string{"author posts ev " + userID + " al2"}, false},
		{"user_deleted", record(t, TypeUserDeleted, map[string]string{"id": userID}), []string{"purge posts ev " + userID}, false},
		{"like_created", record(t, TypeLikeCreated, map[string]string{"post_id": postID, "user_id": userID}), []string{"count posts ev " + postID + " likes +1"}, false},
		{"like_deleted", record(t, TypeLikeDeleted, map[string]string{"post_id": postID, "user_id": userID}), []string{"count posts ev " + postID + " likes -1"}, false},
		{"comment_created", record(t, TypeCommentCreated, map[string]string{"id": "c", "post_id": postID}), []string{"count posts ev " + postID + " comments +1"}, false},
		{"comment_deleted", record(t, TypeCommentDeleted, map[string]string{"id": "c", "post_id": postID}), []string{"count posts ev " + postID + " comments -1"}, false},
		{"other_type_skipped", record(t, "follow.created", map[string]string{}), nil, false},
		{"not_an_envelope_permanent", &kgo.Record{Value: []byte("nope")}, nil, true},
		{"user_without_name_permanent", record(t, TypeUserCreated, map[string]string{"id": userID}), nil, true},
		{"deleted_user_bad_id_permanent", record(t, TypeUserDeleted, map[string]string{"id": "x"}), nil, true},
		{"like_bad_post_permanent", record(t, TypeLikeCreated, map[string]string{"post_id": "x"}), nil, true},
		{"comment_data_not_object_permanent", record(t, TypeCommentCreated, []int{1}), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &recorder{}
			h, err := NewHandler(store, prometheus.NewRegistry(), logging.Discard())
			if err != nil {
				t.Fatal(err)
			}
			err = h.Handle(context.Background(), tt.rec)
			if tt.permanent != events.IsPermanent(err) || (!tt.permanent && err != nil) {
				t.Fatalf("err = %v, want permanent %v", err, tt.permanent)
			}
			if diff := cmp.Diff(tt.want, store.calls); diff != "" {
				t.Fatalf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandleRetriesStoreFailures: a database failure is not permanent, so the consumer
// retries it.
func TestHandleRetriesStoreFailures(t *testing.T) {
	store := &recorder{err: errors.New("database down")}
	h, err := NewHandler(store, prometheus.NewRegistry(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*kgo.Record{
		record(t, TypeLikeCreated, map[string]string{"post_id": postID}),
		record(t, TypeUserDeleted, map[string]string{"id": userID}),
	} {
		if err := h.Handle(context.Background(), rec); err == nil || events.IsPermanent(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
	}
}
