package postevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/posts/internal/post"
)

// Consumer names posts as a reader of other services' events: its consumer group and
// the name its processed-event marks are kept under.
const Consumer = "posts"

// PurgeBatch is how many posts one transaction of an account purge deletes: enough to
// purge a large account in few round trips, few enough that no transaction holds many
// locks or writes a giant outbox batch.
const PurgeBatch = 500

// Event types posts consumes (produced by auth, likes and comments).
const (
	TypeUserCreated    = "user.created"
	TypeUserUpdated    = "user.updated"
	TypeUserDeleted    = "user.deleted"
	TypeLikeCreated    = "like.created"
	TypeLikeDeleted    = "like.deleted"
	TypeCommentCreated = "comment.created"
	TypeCommentDeleted = "comment.deleted"
)

// UserData is the part of a user.* payload posts reads (user.deleted carries the id only).
type UserData struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// LikeData is the part of a like.* payload posts reads.
type LikeData struct {
	PostID string `json:"post_id"`
	UserID string `json:"user_id"`
}

// CommentData is the part of a comment.* payload posts reads.
type CommentData struct {
	ID     string `json:"id"`
	PostID string `json:"post_id"`
	UserID string `json:"user_id"`
}

// Counter names a count posts keeps on each post from other services' events.
type Counter int

// The counts of a post.
const (
	LikeCount Counter = iota + 1
	CommentCount
)

// Store is what the consumer changes. Each method applies its event at most once
// (consumer and eventID name the processed-event mark), so redelivery never repeats an
// effect.
type Store interface {
	// SetAuthor records userID's username and renames the author on their posts.
	SetAuthor(ctx context.Context, consumer, eventID, userID, username string) error
	// AddToCount moves counter of postID by delta (+1 or -1), never below zero; a post
	// that does not exist (deleted meanwhile) is left alone.
	AddToCount(ctx context.Context, consumer, eventID, postID string, counter Counter, delta int) error
	// PurgeAuthor deletes every post of userID, at most batch per transaction, each
	// with its post.deleted event, forgets the author's name, and returns how many posts
	// it deleted. A purge cut short is finished by running it again.
	PurgeAuthor(ctx context.Context, consumer, eventID, userID string, batch int) (int, error)
}

// Handler applies user.*, like.* and comment.* events to posts. Safe for concurrent use.
type Handler struct {
	store  Store
	log    *slog.Logger
	purged prometheus.Counter
}

// NewHandler returns the handler over store and registers its counter in reg.
func NewHandler(store Store, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	h := &Handler{store: store, log: log, purged: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "posts_purged_total", Help: "Posts deleted because their author's account was deleted.",
	})}
	if err := reg.Register(h.purged); err != nil {
		return nil, fmt.Errorf("register posts consumer metrics: %w", err)
	}
	return h, nil
}

// Handle is the events.Handler. A payload that can never be applied is Permanent (it
// goes to the dead-letter topic at once); a database failure is returned to be retried.
// Event types posts does not act on are skipped.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) error {
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		return err
	}
	switch e.Type {
	case TypeUserCreated, TypeUserUpdated:
		var d UserData
		if err := decode(e, &d); err != nil {
			return err
		}
		if !post.ValidID(d.ID) || d.Username == "" {
			return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a user id or username"))
		}
		return h.store.SetAuthor(ctx, Consumer, e.ID, d.ID, d.Username)
	case TypeUserDeleted:
		var d UserData
		if err := decode(e, &d); err != nil {
			return err
		}
		if !post.ValidID(d.ID) {
			return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a user id"))
		}
		n, err := h.store.PurgeAuthor(ctx, Consumer, e.ID, d.ID, PurgeBatch)
		h.purged.Add(float64(n)) // what was deleted stays deleted, even if the rest failed
		if err != nil {
			return err
		}
		h.log.InfoContext(ctx, "author's posts purged", "user_id", d.ID, "posts", n)
		return nil
	case TypeLikeCreated, TypeLikeDeleted:
		var d LikeData
		if err := decode(e, &d); err != nil {
			return err
		}
		return h.count(ctx, e, d.PostID, LikeCount, e.Type == TypeLikeCreated)
	case TypeCommentCreated, TypeCommentDeleted:
		var d CommentData
		if err := decode(e, &d); err != nil {
			return err
		}
		return h.count(ctx, e, d.PostID, CommentCount, e.Type == TypeCommentCreated)
	default:
		return nil
	}
}

func (h *Handler) count(ctx context.Context, e events.Envelope, postID string, c Counter, up bool) error {
	if !post.ValidID(postID) {
		return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a post id"))
	}
	delta := -1
	if up {
		delta = 1
	}
	return h.store.AddToCount(ctx, Consumer, e.ID, postID, c, delta)
}

// decode reads an event's data; data that does not parse never will, so it is Permanent.
func decode(e events.Envelope, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	return nil
}
