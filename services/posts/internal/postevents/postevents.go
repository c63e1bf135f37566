// Package postevents is what the posts service says and hears on Kafka: the post.*
// domain events (written to the outbox by the store), and the user.*, like.* and
// comment.* events it consumes for authors' names, account deletions and the like and
// comment counts on posts. The payloads here are the contract other services read.
package postevents

import (
	"time"

	"instant/platform/events"
	"instant/services/posts/internal/post"
)

// Producer is the envelope's producer field for everything posts publishes.
const Producer = "posts"

// Event types.
const (
	TypeCreated = "post.created"
	TypeUpdated = "post.updated"
	TypeDeleted = "post.deleted"
)

// Data is the payload of post.created and post.updated. Hashtags and mentions are
// always arrays, empty rather than null.
type Data struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Caption   string    `json:"caption"`
	ImageKey  string    `json:"image_key"`
	Hashtags  []string  `json:"hashtags"`
	Mentions  []string  `json:"mentions"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DeletedData is the payload of post.deleted: enough for files to remove the image and
// for comments, likes and feed to purge what hangs off the post.
type DeletedData struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ImageKey string `json:"image_key"`
}

// Created is the post.created envelope of p, keyed by its id.
func Created(p post.Post) (events.Envelope, error) { return changed(TypeCreated, p) }

// Updated is the post.updated envelope of p, keyed by its id.
func Updated(p post.Post) (events.Envelope, error) { return changed(TypeUpdated, p) }

func changed(typ string, p post.Post) (events.Envelope, error) {
	return events.NewEnvelope(typ, Producer, p.ID, Data{
		ID: p.ID, UserID: p.UserID, Caption: p.Caption, ImageKey: p.ImageKey,
		Hashtags: orEmpty(p.Hashtags), Mentions: orEmpty(p.Mentions),
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	})
}

// Deleted is the post.deleted envelope of p, keyed by its id.
func Deleted(p post.Post) (events.Envelope, error) {
	return events.NewEnvelope(TypeDeleted, Producer, p.ID, DeletedData{ID: p.ID, UserID: p.UserID, ImageKey: p.ImageKey})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
