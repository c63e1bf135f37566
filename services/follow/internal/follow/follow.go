// Package follow is the core of the follow service: the follow graph's rules, the pages
// its lists come in, the errors its use cases return, and the ports (Store, Users) they
// need. It knows nothing of HTTP, SQL or Kafka; adapters in sibling packages do.
package follow

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Edge is one entry of a follower or following list: the user at the other end of a
// follow and when the follow began.
type Edge struct {
	UserID     string
	FollowedAt time.Time
}

// Counts are a user's follower and following totals.
type Counts struct {
	UserID    string
	Followers int64
	Following int64
}

// Relation is a user's counts as one viewer sees them: whether the viewer follows the
// user and whether the user follows the viewer.
type Relation struct {
	Counts
	FollowedByMe bool
	FollowsMe    bool
}

// Page is one page of a list, newest follow first. Next is nil on the last page.
type Page struct {
	Items []Edge
	Next  *Cursor
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrInvalidID    = errors.New("malformed user id")
	ErrSelfFollow   = errors.New("cannot follow yourself")
	ErrUserNotFound = errors.New("user not found")
	// ErrAccountDeleted: the acting account was deleted while its request was in flight.
	ErrAccountDeleted = errors.New("account deleted")
	// ErrUnavailable marks a failure of a dependency (the database, auth): the request
	// may succeed later, so it answers 503 rather than 500.
	ErrUnavailable = errors.New("dependency unavailable")
)

// FieldError is a rule broken by one input field (a query parameter).
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidID reports whether s is a user id in canonical form. Malformed ids are refused
// before they reach a uuid column, and non-canonical spellings (upper case, braces) would
// otherwise name one user twice in SQLite's text columns.
func ValidID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}

// Cursor is the position after which a list continues: the sort key of the last item
// of the previous page. Lists are ordered by (followed_at, user_id) descending, so the
// key is unique and a page boundary never splits or repeats an item.
type Cursor struct {
	At     time.Time
	UserID string
}

// Encode renders the cursor opaque to clients: base64url of "<RFC 3339 time>|<user id>".
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + "|" + c.UserID))
}

// DecodeCursor parses what Encode produced; anything else is a FieldError on "cursor".
func DecodeCursor(s string) (Cursor, error) {
	bad := &FieldError{Field: "cursor", Problem: "is not a cursor this list returned"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok || !ValidID(id) {
		return Cursor{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Cursor{}, bad
	}
	return Cursor{At: t.UTC(), UserID: id}, nil
}

// List limits. Public pages are small; the internal lists serve the feed's fan-out,
// which walks whole follower lists and wants few round trips.
const (
	DefaultLimit         = 20
	MaxLimit             = 100
	DefaultInternalLimit = 100
	MaxInternalLimit     = 1000
	// MaxBatch bounds the ids of one batch counts request.
	MaxBatch = 100
)
