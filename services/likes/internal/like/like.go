// Package like is the core of the likes service: who likes which post, how many like
// it, the use cases, and the ports (Store, Posts) they need. It knows nothing of HTTP,
// SQL or Kafka; adapters in sibling packages do.
package like

import (
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Like is one user liking one post.
type Like struct {
	PostID    string
	UserID    string
	CreatedAt time.Time
}

// State is a post's like count and whether one user likes it, after a like or unlike.
type State struct {
	PostID string
	Liked  bool
	Count  int64
}

// Summary is what a feed shows of a post's likes to one viewer.
type Summary struct {
	PostID    string
	Count     int64
	LikedByMe bool
}

// Post is what likes needs to know of a post: that it exists.
type Post struct {
	ID     string
	UserID string
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrPostNotFound = errors.New("post not found")
	ErrInvalidID    = errors.New("malformed id")
	// ErrAccountDeleted: the acting account was deleted while its request was in flight.
	ErrAccountDeleted = errors.New("account deleted")
	// ErrUnavailable marks a failure of a dependency (the database, the posts service):
	// the request may succeed later, so it answers 503 rather than 500.
	ErrUnavailable = errors.New("dependency unavailable")
)

// FieldError is a rule broken by one input field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ParseID returns s as a canonical (lowercase, hyphenated) UUID, or ErrInvalidID. Only
// the 36-character form is accepted; upper case is folded so that SQLite's text
// comparison finds what PostgreSQL's uuid type would.
func ParseID(s string) (string, error) {
	if len(s) != 36 {
		return "", ErrInvalidID
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", ErrInvalidID
	}
	return u.String(), nil
}

// MaxBatch is the most posts one summary request may name: a feed page is at most 100.
const MaxBatch = 100

// ParsePostIDs reads a comma-separated list of 1–MaxBatch post ids, in the order given.
// A repeated id is kept repeated: the answer lists one summary per id asked.
func ParsePostIDs(s string) ([]string, error) {
	if s == "" {
		return nil, &FieldError{Field: "post_ids", Problem: "is required"}
	}
	// Count before splitting, so a huge list costs no allocation.
	if strings.Count(s, ",") >= MaxBatch {
		return nil, &FieldError{Field: "post_ids", Problem: "must list at most 100 ids"}
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		id, err := ParseID(strings.TrimSpace(p))
		if err != nil {
			return nil, &FieldError{Field: "post_ids", Problem: "must be comma-separated UUIDs"}
		}
		parts[i] = id
	}
	return parts, nil
}
