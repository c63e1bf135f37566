// Package comment is the core of the comments service: a comment, the rules its body
// follows, who may change or remove it, the use cases, and the ports (Store, Posts) they
// need. It knows nothing of HTTP, SQL or Kafka; adapters in sibling packages do.
package comment

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Comment is one comment on a post. Body is stored trimmed.
type Comment struct {
	ID        string
	PostID    string
	UserID    string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Post is what comments needs to know of a post: that it exists, and who owns it (the
// owner may remove any comment on it).
type Post struct {
	ID     string
	UserID string
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrNotFound     = errors.New("comment not found")
	ErrPostNotFound = errors.New("post not found")
	// ErrAccountDeleted: the acting account was deleted while its request was in flight.
	ErrAccountDeleted = errors.New("account deleted")
	ErrInvalidID      = errors.New("malformed id")
	ErrForbidden      = errors.New("not allowed to change this comment")
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

// MaxBodyLen is the longest comment, in characters (runes) after trimming: Instagram's
// limit for captions and comments.
const MaxBodyLen = 2200

// NormalizeBody trims a comment body and checks it is 1–MaxBodyLen characters without
// control characters other than tab and line breaks (PostgreSQL refuses NUL in text, and
// the others only serve to garble what readers see).
func NormalizeBody(s string) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", &FieldError{Field: "body", Problem: "is required"}
	case n > MaxBodyLen:
		return "", &FieldError{Field: "body", Problem: "must be at most 2200 characters"}
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return "", &FieldError{Field: "body", Problem: "must not contain control characters"}
		}
	}
	return s, nil
}

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
