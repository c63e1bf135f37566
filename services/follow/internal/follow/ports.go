package follow

import (
	"context"
	"time"
)

// Store keeps the follow graph and each user's counts. Every change that really happens
// updates the counts and records its follow.* event in the same transaction (the
// outbox); a change that finds the graph already as asked changes and records nothing,
// so counts stay exact and events are never duplicated, however requests interleave.
// Failures of the database itself are reported wrapped in ErrUnavailable.
type Store interface {
	// Follow adds follower → followee, begun at at, unless it exists. It reports
	// whether it was added, and returns the followee's counts afterwards.
	Follow(ctx context.Context, follower, followee string, at time.Time) (added bool, counts Counts, err error)
	// Unfollow removes follower → followee if it exists. It reports whether it was
	// removed, and returns the followee's counts afterwards.
	Unfollow(ctx context.Context, follower, followee string) (removed bool, counts Counts, err error)
	// Followers returns up to limit followers of user, newest first, after the cursor
	// (nil: from the newest).
	Followers(ctx context.Context, user string, after *Cursor, limit int) ([]Edge, error)
	// Following returns up to limit users user follows, newest first, after the cursor.
	Following(ctx context.Context, user string, after *Cursor, limit int) ([]Edge, error)
	// Counts returns the counts of each id, in the order given; a user nobody follows
	// and who follows nobody has zeros.
	Counts(ctx context.Context, ids []string) ([]Counts, error)
	// Relation tells whether viewer follows user and whether user follows viewer.
	Relation(ctx context.Context, viewer, user string) (viewerFollows, userFollows bool, err error)
}

// Users tells whether an account exists. Auth owns accounts; follow asks it before
// adding a follow, so nobody follows an id that names no one.
type Users interface {
	// Exists returns nil when the user exists, ErrUserNotFound when not, and an error
	// wrapping ErrUnavailable when it cannot tell.
	Exists(ctx context.Context, id string) error
}
