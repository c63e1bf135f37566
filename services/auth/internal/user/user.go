// Package user is the core of the auth service: accounts, the rules their fields follow,
// sign-in by one-time code, and the ports (Store, Codes, Mailer, Sessions) the use cases
// need. It knows nothing of HTTP, SQL, Redis or Kafka; adapters in sibling packages do.
package user

import (
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
)

// User is an account. Email is private to its owner; every other service knows a user
// by ID and Username only.
type User struct {
	ID        string
	Username  string
	Email     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Errors the use cases return; the HTTP layer maps each to a status in one table.
var (
	ErrNotFound         = errors.New("user not found")
	ErrInvalidID        = errors.New("malformed user id")
	ErrUsernameTaken    = errors.New("username taken")
	ErrEmailTaken       = errors.New("email address in use")
	ErrUsernameRequired = errors.New("username required for a new account")
	ErrInvalidCode      = errors.New("wrong code")
	ErrCodeExpired      = errors.New("code expired, used up or never issued")
	ErrForbidden        = errors.New("not your account")
	// ErrUnavailable marks a failure of a dependency (database, Redis, Kafka): the request
	// may succeed later, so it answers 503 rather than 500.
	ErrUnavailable = errors.New("dependency unavailable")
)

// FieldError is a rule broken by one input field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// MaxEmailLen is the longest address SMTP can carry (RFC 5321 path limit).
const MaxEmailLen = 254

// NormalizeEmail trims and lowercases an address and checks it is one bare address.
// Lowercasing the local part is stricter than RFC 5321 allows, but no mail provider in
// use distinguishes case, and one account per mailbox matters more.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", &FieldError{Field: "email", Problem: "is required"}
	}
	if len(s) > MaxEmailLen {
		return "", &FieldError{Field: "email", Problem: "must be at most 254 characters"}
	}
	// ParseAddress also accepts `Name <a@b>`; requiring the result to equal the input
	// keeps display names, comments and angle brackets out.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", &FieldError{Field: "email", Problem: "must be a valid email address"}
	}
	return s, nil
}

// Username length limits.
const (
	MinUsernameLen = 3
	MaxUsernameLen = 30
)

// NormalizeUsername lowercases a username and checks it is 3–30 of [a-z0-9._]. Names
// are unique regardless of case, so only the lowercase form is ever stored.
func NormalizeUsername(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < MinUsernameLen || len(s) > MaxUsernameLen {
		return "", &FieldError{Field: "username", Problem: "must be 3 to 30 characters long"}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '_' {
			return "", &FieldError{Field: "username", Problem: "may contain only letters, digits, '.' and '_'"}
		}
	}
	return s, nil
}

// NewID returns a random (version 4) UUID for a new account.
func NewID() (string, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// ValidID reports whether s is a user id in canonical form, so malformed ids are refused
// before they reach a uuid column (where PostgreSQL would fail the query).
func ValidID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}
