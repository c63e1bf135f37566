package comment

import (
	"context"
	"time"
)

// Store keeps comments. Create and Delete also record their comment.* event in the same
// transaction (the outbox), so an event is published if and only if the change happened.
// Failures of the database itself are reported wrapped in ErrUnavailable.
type Store interface {
	// Create inserts c and records comment.created.
	Create(ctx context.Context, c Comment) error
	// Get returns the comment with the given id, or ErrNotFound.
	Get(ctx context.Context, id string) (Comment, error)
	// List returns up to limit comments of a post, oldest first, starting after the
	// cursor (nil: from the first).
	List(ctx context.Context, postID string, after *Cursor, limit int) ([]Comment, error)
	// SetBody replaces the body of the comment id written by userID and returns it;
	// ErrNotFound when there is no such comment by that author. Nothing is recorded:
	// contracts.md has no comment.updated event.
	SetBody(ctx context.Context, id, userID, body string, at time.Time) (Comment, error)
	// Delete removes c and records comment.deleted; ErrNotFound when it is already gone.
	Delete(ctx context.Context, c Comment) error
}

// Posts answers whether a post exists and who owns it: ErrPostNotFound when it does not
// exist, an error wrapping ErrUnavailable when the answer cannot be had.
type Posts interface {
	Post(ctx context.Context, id string) (Post, error)
}
