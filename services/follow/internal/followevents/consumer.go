package followevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/follow/internal/follow"
)

// Consumer names follow as a reader of other services' events: its consumer group and
// the name its processed-event marks are kept under.
const Consumer = "follow"

// PurgeBatch is how many follows one transaction of an account purge removes, so a
// celebrity's million followers never become one giant transaction.
const PurgeBatch = 500

// TypeUserDeleted is the one event follow acts on (produced by auth); the other user.*
// events are not its business.
const TypeUserDeleted = "user.deleted"

// UserDeleted is the data of user.deleted.
type UserDeleted struct {
	ID string `json:"id"`
}

// Purger removes a deleted account from the graph in batches, each follow with its
// follow.deleted, marking the event processed in its last transaction; it is safe to run
// again after a crash midway. It returns how many follows it removed.
type Purger interface {
	PurgeUser(ctx context.Context, consumer, eventID, userID string, batch int) (int, error)
}

// Handler applies user.deleted to the graph. Safe for concurrent use.
type Handler struct {
	store  Purger
	log    *slog.Logger
	purged prometheus.Counter
}

// NewHandler returns the handler over store and registers its counter in reg.
func NewHandler(store Purger, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	h := &Handler{store: store, log: log, purged: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "follows_purged_total", Help: "Follows removed because the follower's or the followee's account was deleted.",
	})}
	if err := reg.Register(h.purged); err != nil {
		return nil, fmt.Errorf("register follow consumer metrics: %w", err)
	}
	return h, nil
}

// Handle is the events.Handler. A payload that can never be applied is Permanent (it
// goes to the dead-letter topic at once); a database failure is returned, to be retried.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) error {
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		return err
	}
	if e.Type != TypeUserDeleted {
		return nil
	}
	var d UserDeleted
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	if !follow.ValidID(d.ID) {
		return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a valid user id"))
	}
	n, err := h.store.PurgeUser(ctx, Consumer, e.ID, d.ID, PurgeBatch)
	h.purged.Add(float64(n)) // what went stays gone, even if the rest failed
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "user's follows purged", "user_id", d.ID, "follows", n)
	return nil
}
