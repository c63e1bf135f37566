// Package feed is the core of the feed service: the read model of posts, people and the
// follow graph that other services' events build, the home timelines kept from it, and
// the pages a reader gets. It knows nothing of HTTP, SQL, Redis or Kafka; the adapters
// in sibling packages do (feedhttp, feeddb, feedredis, feedevents).
//
// # Ordering
//
// Every list is newest first by (created_at in milliseconds, post id), both descending:
// the timeline's Redis score is the millisecond and equal scores sort by member (the post
// id), the read model's indexes hold the same pair, so a page boundary — a [Ref] — is a
// position that both stores agree on and a page never repeats or skips a post.
package feed

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Ref is a post's place in a timeline: when it was created, in Unix milliseconds, and its
// id as the tie-break. As a cursor it is the last post of the previous page.
type Ref struct {
	Ms int64
	ID string
}

// Newer reports whether r comes before o in a newest-first list.
func (r Ref) Newer(o Ref) bool {
	return r.Ms > o.Ms || r.Ms == o.Ms && r.ID > o.ID
}

// Encode renders the cursor opaque to clients: base64url of "<ms>.<id>".
func (r Ref) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.Ms, 10) + "." + r.ID))
}

// DecodeCursor parses what Encode produced; anything else is a FieldError on "cursor".
func DecodeCursor(s string) (Ref, error) {
	bad := &FieldError{Field: "cursor", Problem: "is not a cursor this list returned"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Ref{}, bad
	}
	ms, id, ok := strings.Cut(string(raw), ".")
	if !ok || !ValidID(id) {
		return Ref{}, bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return Ref{}, bad
	}
	return Ref{Ms: n, ID: id}, nil
}

// Millis is the timeline score of a creation time.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// User is an account as feed knows it from auth's user.* events.
type User struct {
	ID        string
	Username  string
	CreatedAt time.Time
}

// Post is a post as feed knows it from posts' post.* events.
type Post struct {
	ID        string
	UserID    string
	Caption   string
	ImageKey  string
	CreatedAt time.Time
}

// Ref is the post's place in timelines.
func (p Post) Ref() Ref { return Ref{Ms: Millis(p.CreatedAt), ID: p.ID} }

// Author names who wrote a post. Username is empty while feed has not heard of the
// account yet (its user.created is still on its way).
type Author struct {
	ID       string
	Username string
}

// Item is a post as one viewer sees it in a list.
type Item struct {
	Ref
	Author       Author
	Caption      string
	ImageKey     string
	LikeCount    int64
	CommentCount int64
	LikedByMe    bool
	CreatedAt    time.Time
	// InNetwork: the author is the viewer or someone the viewer follows, i.e. the post
	// belongs in the viewer's home feed.
	InNetwork bool
}

// ImagePathPrefix is where the gateway serves images (the files service).
const ImagePathPrefix = "/api/files/"

// ImageURL is the path of a post's image.
func ImageURL(key string) string { return ImagePathPrefix + key }

// Page is one page of a list. Next is nil on the last page.
type Page struct {
	Items []Item
	Next  *Ref
}

// Stats are a user's counts as one viewer sees them.
type Stats struct {
	Posts        int64
	Followers    int64
	Following    int64
	FollowedByMe bool
}

// Profile is a user's page: who they are, their counts and their first posts.
type Profile struct {
	User  User
	Stats Stats
	Posts Page
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrInvalidID    = errors.New("malformed id")
	ErrUserNotFound = errors.New("user not found")
	// ErrUnavailable marks a failure of a store the answer needs: the request may
	// succeed later, so it answers 503 rather than 500.
	ErrUnavailable = errors.New("dependency unavailable")
)

// FieldError is a rule broken by one input field (a query parameter).
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidID reports whether s is an id in canonical form (a lowercase UUID). Ids in events
// and paths are checked before they reach a uuid column; other spellings would name one
// row twice in SQLite's text columns.
func ValidID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}

// List limits.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)
