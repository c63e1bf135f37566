// Package fileevents consumes the domain events that make files go away: a deleted post
// takes its image with it, a deleted account every object under its prefix. Deletes are
// idempotent by nature (deleting what is gone already changes nothing), so a redelivered
// event needs no processed-event bookkeeping and the service needs no database.
package fileevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/files/internal/file"
)

// Event types this service acts on (docs/contracts.md); the others on its topics are
// not its business.
const (
	TypePostDeleted = "post.deleted"
	TypeUserDeleted = "user.deleted"
)

// PostDeleted is the data of a post.deleted event.
type PostDeleted struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ImageKey string `json:"image_key"`
}

// UserDeleted is the data of a user.deleted event.
type UserDeleted struct {
	ID string `json:"id"`
}

// Handler applies events to the object store. Safe for concurrent use.
type Handler struct {
	svc *file.Service
	log *slog.Logger
}

// New returns the handler.
func New(svc *file.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, log: log}
}

// Handle is the events.Handler. A payload that can never be applied is Permanent (it goes
// to the dead-letter topic at once, where an operator sees it); a store failure is
// returned as is, to be retried.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) error {
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		return err
	}
	switch e.Type {
	case TypePostDeleted:
		return h.postDeleted(ctx, e)
	case TypeUserDeleted:
		return h.userDeleted(ctx, e)
	default:
		return nil
	}
}

func (h *Handler) postDeleted(ctx context.Context, e events.Envelope) error {
	var d PostDeleted
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	author, err := uuid.Parse(d.UserID)
	if err != nil {
		return events.Permanent(fmt.Errorf("%s %s: user_id is not a UUID", e.Type, e.ID))
	}
	if d.ImageKey == "" {
		return nil // a post without an image leaves nothing behind
	}
	err = h.svc.DeletePostImage(ctx, author, d.ImageKey)
	if errors.Is(err, file.ErrInvalidKey) || errors.Is(err, file.ErrForbidden) {
		// posts takes only its author's own keys: this event is a bug or a forgery, and
		// deleting would hit a file that is not the post's.
		return events.Permanent(fmt.Errorf("%s %s: image_key refused: %w", e.Type, e.ID, err))
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "post image deleted", "post_id", d.ID, "key", d.ImageKey)
	return nil
}

func (h *Handler) userDeleted(ctx context.Context, e events.Envelope) error {
	var d UserDeleted
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	user, err := uuid.Parse(d.ID)
	if err != nil {
		return events.Permanent(fmt.Errorf("%s %s: id is not a UUID", e.Type, e.ID))
	}
	n, err := h.svc.PurgeUser(ctx, user)
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "user files purged", "user_id", d.ID, "objects", n)
	return nil
}
