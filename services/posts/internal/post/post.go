// Package post is the core of the posts service: a post (a caption and an image its
// author uploaded), the rules its fields follow, the hashtags and mentions a caption
// carries, and the ports (Store, Images) the use cases need. It knows nothing of HTTP,
// SQL or Kafka; adapters in sibling packages do.
package post

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// Post is one photo post. Username, LikeCount and CommentCount are copies kept up to date
// from other services' events (user.*, like.*, comment.*); they may lag behind.
type Post struct {
	ID           string
	UserID       string
	Username     string
	Caption      string
	ImageKey     string
	Hashtags     []string
	Mentions     []string
	LikeCount    int64
	CommentCount int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrNotFound  = errors.New("post not found")
	ErrInvalidID = errors.New("malformed id")
	ErrForbidden = errors.New("not your post")
	// ErrAccountDeleted: the acting account was deleted while its request was in flight.
	ErrAccountDeleted = errors.New("account deleted")

	// The image a post names: outside instant, someone else's, not uploaded, not an
	// image, too big, or already the image of another post.
	ErrExternalImage = errors.New("external image url")
	ErrImageNotYours = errors.New("image belongs to another user")
	ErrImageNotFound = errors.New("image not found")
	ErrImageType     = errors.New("image type not allowed")
	ErrImageTooLarge = errors.New("image too large")
	ErrImageEmpty    = errors.New("image is empty")
	ErrImageInUse    = errors.New("image already used by another post")
	// ErrImageExpired: the image was uploaded too long ago to be posted (it is about to
	// be swept as unused); upload it again.
	ErrImageExpired = errors.New("image upload expired")

	ErrInvalidCursor = errors.New("malformed cursor")

	// ErrUnavailable marks a failure of a dependency (the database, the files service):
	// the request may succeed later, so it answers 503 rather than 500.
	ErrUnavailable = errors.New("dependency unavailable")
)

// FieldError is a rule broken by one input field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// NewID returns a time-ordered (version 7) UUID for a new post, so ids sort roughly as
// posts were created and index pages fill in order.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// ValidID reports whether s is an id in canonical form, so malformed ids are refused
// before they reach a uuid column (where PostgreSQL would fail the query).
func ValidID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}
