package like

import (
	"context"
	"time"
)

// Store keeps likes and each post's like count. Like and Unlike change the like, the
// count and the outbox in one transaction and only when the like really changed, so
// concurrent and repeated requests never make the count drift from the likes, and an
// idempotent repeat records no event. Failures of the database itself are reported
// wrapped in ErrUnavailable.
type Store interface {
	// Like records that userID likes postID since at, unless it already does, and
	// records like.created when it did. changed tells which; the state is the one after.
	Like(ctx context.Context, postID, userID string, at time.Time) (s State, changed bool, err error)
	// Unlike removes userID's like of postID, if any, and records like.deleted when it
	// did. changed tells which; the state is the one after.
	Unlike(ctx context.Context, postID, userID string) (s State, changed bool, err error)
	// Likers returns up to limit likes of a post, newest first, starting after the
	// cursor (nil: from the first).
	Likers(ctx context.Context, postID string, after *Cursor, limit int) ([]Like, error)
	// Summaries returns the count of each post and whether viewer (empty: nobody) likes
	// it, one per id in the order given; a post nobody liked counts 0.
	Summaries(ctx context.Context, postIDs []string, viewer string) ([]Summary, error)
}

// Posts answers whether a post exists: ErrPostNotFound when it does not, an error
// wrapping ErrUnavailable when the answer cannot be had.
type Posts interface {
	Post(ctx context.Context, id string) (Post, error)
}
