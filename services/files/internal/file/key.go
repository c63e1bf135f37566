// Package file is the core of the files service: object keys and who owns them, the image
// types an upload may have, and the use cases (hand out presigned URLs, delete, purge)
// over a Store that signs URLs and talks to S3. It imports no HTTP, S3 or Kafka library.
package file

import (
	"errors"
	"strings"

	"github.com/google/uuid"
)

// Errors of the core; the HTTP layer maps them to statuses in one table.
var (
	ErrInvalidKey  = errors.New("malformed file key")
	ErrNotFound    = errors.New("file not found")
	ErrForbidden   = errors.New("file belongs to another user")
	ErrTooLarge    = errors.New("file too large")
	ErrUnavailable = errors.New("object store unavailable")
)

// FieldError is a rule broken by one input field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Key layout: users/<owner uuid>/<name>. The owner is part of the key, so who may delete
// an object is read from its key, with no lookup.
const (
	keyPrefix = "users/"
	// MaxKeyLen bounds a key; what this service hands out is 83 characters long.
	MaxKeyLen = 200
	// maxNameLen bounds the part after the owner.
	maxNameLen = 128
)

// Key is a parsed, valid object key.
type Key struct {
	Owner uuid.UUID
	Name  string // file name under the owner's prefix: "<uuid>.<ext>" for uploads
}

// String is the key as stored in S3 and handed to clients.
func (k Key) String() string { return OwnerPrefix(k.Owner) + k.Name }

// OwnerPrefix is the prefix under which every object of owner lives.
func OwnerPrefix(owner uuid.UUID) string { return keyPrefix + owner.String() + "/" }

// ParseKey accepts exactly users/<canonical lowercase uuid>/<name>, where name is 1 to 128
// characters of [A-Za-z0-9._-] that neither starts with a dot nor holds "..": no leading
// slash, no traversal, no further path segments, nothing that needs escaping in a URL.
func ParseKey(s string) (Key, error) {
	if len(s) > MaxKeyLen || !strings.HasPrefix(s, keyPrefix) {
		return Key{}, ErrInvalidKey
	}
	owner, name, ok := strings.Cut(s[len(keyPrefix):], "/")
	if !ok {
		return Key{}, ErrInvalidKey
	}
	id, err := uuid.Parse(owner)
	// uuid.Parse also takes upper case, braces and urn: forms; one spelling per key.
	if err != nil || id.String() != owner {
		return Key{}, ErrInvalidKey
	}
	if !validName(name) {
		return Key{}, ErrInvalidKey
	}
	return Key{Owner: id, Name: name}, nil
}

func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == '.' || strings.Contains(name, "..") {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
