package likeevents

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
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

func (r *recorder) PurgePost(_ context.Context, consumer, eventID, postID string, batch int) (int, error) {
	r.calls = append(r.calls, "post "+consumer+" "+eventID+" "+postID)
	return 1, r.err
}

func (r *recorder) PurgeUser(_ context.Context, consumer, eventID, userID string, batch int) (int, error) {
	r.calls = append(r.calls, "user "+consumer+" "+eventID+" "+userID)
	return 1, r.err
}

const id = "0190f1c2-7a3b-7c4d-8e5f-00000000000a"

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

// TestHandle routes each event type to its purge and sorts what cannot be applied into
// permanent failures (dead-lettered at once) and skips.
func TestHandle(t *testing.T) {
	tests := []struct {
		name      string
		rec       *kgo.Record
		want      []string
		permanent bool
	}{
		{"post_deleted", record(t, TypePostDeleted, map[string]string{"id": id, "user_id": id, "image_key": "k"}), []string{"post likes ev " + id}, false},
		{"user_deleted", record(t, TypeUserDeleted, map[string]string{"id": id}), []string{"user likes ev " + id}, false},
		{"id_folded_to_canonical", record(t, TypeUserDeleted, map[string]string{"id": strings.ToUpper(id)}), []string{"user likes ev " + id}, false},
		{"other_type_skipped", record(t, "post.created", map[string]string{"id": id}), nil, false},
		{"not_an_envelope_permanent", &kgo.Record{Value: []byte("nope")}, nil, true},
		{"bad_id_permanent", record(t, TypePostDeleted, map[string]string{"id": "x"}), nil, true},
		{"data_not_object_permanent", record(t, TypeUserDeleted, []int{1}), nil, true},
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
	h, err := NewHandler(&recorder{err: errors.New("database down")}, prometheus.NewRegistry(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(context.Background(), record(t, TypePostDeleted, map[string]string{"id": id})); err == nil || events.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}
