package comment

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page sizes.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Cursor is the sort key of the last comment a page returned: comments are listed by
// (created_at, id), so the next page starts strictly after it. Keyset pagination over a
// unique key neither repeats nor skips a comment when others are added meanwhile; a new
// comment sorts after every existing one and shows up on a later page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode returns the cursor as clients see it: opaque, URL-safe base64 of
// "<created_at RFC 3339>|<id>".
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// ParseCursor decodes what Encode produced; an empty string is the first page (nil).
func ParseCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := &FieldError{Field: "cursor", Problem: "is not a cursor this list returned"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return nil, bad
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, bad
	}
	if id, err = ParseID(id); err != nil {
		return nil, bad
	}
	return &Cursor{CreatedAt: at.UTC(), ID: id}, nil
}

// ParseLimit reads the limit query parameter: empty means DefaultLimit, otherwise
// 1–MaxLimit.
func ParseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, &FieldError{Field: "limit", Problem: "must be a whole number from 1 to 100"}
	}
	return n, nil
}
