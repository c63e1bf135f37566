// Package likeevents is what the likes service hears on Kafka: post.deleted and
// user.deleted, which take likes with them. (What it says, like.*, is written to the
// outbox by likedb in the transaction of each change.)
package likeevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/likes/internal/like"
)

// Consumer names likes as a reader of other services' events: its consumer group
// and the name its processed-event marks are kept under.
const Consumer = "likes"

// PurgeBatch is how many likes one transaction of a purge deletes, so a post with a
// million likes never becomes one giant transaction.
const PurgeBatch = 500

// Event types likes acts on (docs/contracts.md); the others on its topics are not
// its business.
const (
	TypePostDeleted = "post.deleted"
	TypeUserDeleted = "user.deleted"
)

// idData is the part of post.deleted and user.deleted likes reads: the id of the
// post or account that is gone.
type idData struct {
	ID string `json:"id"`
}

// Store is what the purges change. Each runs in batches, marks the event processed in
// its last transaction, and is safe to run again after a crash midway.
type Store interface {
	// PurgePost deletes a post's likes and its count, recording no events.
	PurgePost(ctx context.Context, consumer, eventID, postID string, batch int) (int, error)
	// PurgeUser deletes an account's likes, moving each post's count down and
	// recording like.deleted for each.
	PurgeUser(ctx context.Context, consumer, eventID, userID string, batch int) (int, error)
}

// Reasons of a purge, the values of likes_purged_total's reason label.
const (
	reasonPost = "post_deleted"
	reasonUser = "user_deleted"
)

// Handler applies post.deleted and user.deleted to likes. Safe for concurrent use.
type Handler struct {
	store  Store
	log    *slog.Logger
	purged *prometheus.CounterVec
}

// NewHandler returns the handler over store and registers its counter in reg, every
// reason at zero.
func NewHandler(store Store, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	h := &Handler{store: store, log: log, purged: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "likes_purged_total", Help: "Likes deleted because their post or their author's account was deleted, by reason.",
	}, []string{"reason"})}
	if err := reg.Register(h.purged); err != nil {
		return nil, fmt.Errorf("register likes consumer metrics: %w", err)
	}
	h.purged.WithLabelValues(reasonPost)
	h.purged.WithLabelValues(reasonUser)
	return h, nil
}

// Handle is the events.Handler. A payload that can never be applied is Permanent (it
// goes to the dead-letter topic at once); a database failure is returned, to be retried.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) error {
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		return err
	}
	switch e.Type {
	case TypePostDeleted:
		id, err := idOf(e)
		if err != nil {
			return err
		}
		n, err := h.store.PurgePost(ctx, Consumer, e.ID, id, PurgeBatch)
		h.purged.WithLabelValues(reasonPost).Add(float64(n)) // what went stays gone, even if the rest failed
		if err != nil {
			return err
		}
		h.log.InfoContext(ctx, "post's likes purged", "post_id", id, "likes", n)
		return nil
	case TypeUserDeleted:
		id, err := idOf(e)
		if err != nil {
			return err
		}
		n, err := h.store.PurgeUser(ctx, Consumer, e.ID, id, PurgeBatch)
		h.purged.WithLabelValues(reasonUser).Add(float64(n))
		if err != nil {
			return err
		}
		h.log.InfoContext(ctx, "user's likes purged", "user_id", id, "likes", n)
		return nil
	default:
		return nil
	}
}

// idOf returns the id the event's data names, in canonical form. Data that does not
// parse, or names no valid id, never will: Permanent.
func idOf(e events.Envelope) (string, error) {
	var d idData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return "", events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	id, err := like.ParseID(d.ID)
	if err != nil {
		return "", events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a valid id"))
	}
	return id, nil
}
