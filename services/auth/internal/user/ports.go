package user

import (
	"context"
	"time"
)

// Confirm is called by a Store inside the transaction of a change, after the change is
// written and before it commits; an error rolls the change back. The use cases pass a
// function that consumes the one-time code, so a code is spent exactly when its change
// commits: a change that fails (a name taken, a database error) leaves the code usable,
// and of two concurrent requests with the same code only the one that takes it commits.
type Confirm func(ctx context.Context) error

// Store keeps accounts. Every change also records its user.* event in the same
// transaction (the outbox), so an event is published if and only if the change happened.
// Failures of the database itself are reported wrapped in ErrUnavailable.
type Store interface {
	// Create inserts u and records user.created. ErrEmailTaken or ErrUsernameTaken when
	// another account holds either.
	Create(ctx context.Context, u User, confirm Confirm) error
	ByID(ctx context.Context, id string) (User, error)
	ByEmail(ctx context.Context, email string) (User, error)
	ByUsername(ctx context.Context, username string) (User, error)
	// SetUsername renames the account and records user.updated; renaming to the current
	// name changes nothing and records nothing.
	SetUsername(ctx context.Context, id, username string) (User, error)
	// SetEmail changes the address and, in the same transaction, queues notice(the
	// account as it was) for the email service, so the mail to the old address goes out
	// exactly when the change commits. Emails never travel in user.* events.
	SetEmail(ctx context.Context, id, email string, notice func(before User) Email, confirm Confirm) (User, error)
	// Delete removes the account and records user.deleted.
	Delete(ctx context.Context, id string, confirm Confirm) error
}

// Purpose is what a one-time code may be used for. A code is bound to one purpose and
// one subject, and never works for another.
type Purpose string

// Purposes.
const (
	PurposeLogin         Purpose = "login"          // subject: the email address
	PurposeDeleteAccount Purpose = "delete_account" // subject: the user id
	PurposeChangeEmail   Purpose = "change_email"   // subject: the user id; payload: the new address
)

// Limits of a one-time code.
const (
	CodeTTL         = 10 * time.Minute
	MaxCodeAttempts = 5
)

// Codes keeps one-time codes. Issuing a code for a purpose and subject replaces any
// earlier one. A code dies after CodeTTL or after MaxCodeAttempts wrong tries; from then
// on every try answers ErrCodeExpired. Failures of the store itself are reported wrapped
// in ErrUnavailable.
type Codes interface {
	// Issue creates a code, stores it (never in clear) with payload, and returns it.
	Issue(ctx context.Context, p Purpose, subject, payload string) (string, error)
	// Check tells whether code is the live code, counting a wrong try, without spending
	// it; it returns the payload. ErrInvalidCode or ErrCodeExpired otherwise.
	Check(ctx context.Context, p Purpose, subject, code string) (string, error)
	// Take is Check that also spends the code, atomically: of concurrent Takes of one
	// code exactly one succeeds.
	Take(ctx context.Context, p Purpose, subject, code string) (string, error)
}

// Email templates the email service knows.
const (
	TemplateLoginCode       = "login_code"
	TemplateDeleteCode      = "delete_code"
	TemplateEmailChangeCode = "email_change_code"
	// TemplateEmailChanged tells the old address that the account moved to another one.
	TemplateEmailChanged = "email_changed"
)

// Email is a request to send one templated message.
type Email struct {
	To       string
	Template string
	Params   map[string]string
}

// Mailer hands an email to the email service. It returns only once the message is
// durably accepted for delivery, so a user is never told a code is on its way when it
// is not; a failure is wrapped in ErrUnavailable.
type Mailer interface {
	Send(ctx context.Context, e Email) error
}

// Sessions starts and ends sign-in sessions (platform/session satisfies it).
type Sessions interface {
	Create(ctx context.Context, userID string) (id string, expires time.Time, err error)
	Revoke(ctx context.Context, id string) error
	RevokeAll(ctx context.Context, userID string) error
}
