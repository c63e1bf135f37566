package post

import (
	"context"
	"time"
)

// Store keeps posts. Every change also records its post.* event in the same transaction
// (the outbox), so an event is published if and only if the change happened. Failures
// of the database itself are reported wrapped in ErrUnavailable.
type Store interface {
	// Create inserts p with its hashtags and mentions, records post.created and returns
	// the post as stored (with the author's username when known). ErrImageInUse when
	// another post has the same image.
	Create(ctx context.Context, p Post) (Post, error)
	// ByID returns a post; ErrNotFound when there is none.
	ByID(ctx context.Context, id string) (Post, error)
	// Update runs change on the current post inside a transaction that holds it: change
	// returns the post as it should be and whether anything changed. A change is written
	// (hashtags and mentions replaced) with its post.updated event; no change writes
	// nothing. An error from change aborts and is returned as it is.
	Update(ctx context.Context, id string, change func(Post) (Post, bool, error)) (Post, error)
	// Delete removes a post, its hashtags and mentions and records post.deleted, once
	// check accepted the current post; an error from check is returned as it is.
	Delete(ctx context.Context, id string, check func(Post) error) (Post, error)
	// List returns up to q.Limit posts, newest first.
	List(ctx context.Context, q ListQuery) ([]Post, error)
	// UsedImageKeys returns those of keys that some post's image is.
	UsedImageKeys(ctx context.Context, keys []string) ([]string, error)
}

// ListQuery selects a page of posts, newest first (by created_at, then id).
type ListQuery struct {
	UserID string  // only this author's posts, when set
	Tag    string  // only posts with this hashtag, when set
	After  *Cursor // only posts after this one in the order (keyset paging)
	Offset int     // skip this many (offset paging; not with After)
	Limit  int
}

// Cursor is the sort key of the last post of a page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Images answers what the files service knows about an uploaded object. Stat returns
// ErrImageNotFound when there is no such object, an error wrapping ErrUnavailable when
// the files service cannot answer.
type Images interface {
	Stat(ctx context.Context, key string) (Image, error)
}

// Uploads are the uploaded images as the sweep of unused ones sees them (the files
// service): a page of the keys uploaded before a time, and their removal.
type Uploads interface {
	// ListUploads returns the keys of a page of uploads older than before, from after
	// on, and the key to continue after ("" at the end). A page may be empty and still
	// continue.
	ListUploads(ctx context.Context, before time.Time, after string) (keys []string, next string, err error)
	// RemoveUploads deletes keys and says how many went.
	RemoveUploads(ctx context.Context, keys []string) (int, error)
}
