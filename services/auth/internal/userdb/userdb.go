// Package userdb stores accounts with gorm, in PostgreSQL or SQLite. It translates
// driver errors into the core's (user.ErrNotFound, user.ErrUsernameTaken, ...) and writes
// each change's user.* event to the outbox in the change's own transaction.
package userdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"instant/platform/database"
	"instant/platform/events"
	"instant/services/auth/internal/user"
	"instant/services/auth/internal/userevents"
)

// row is a users row. It stays in this package; the core sees user.User.
type row struct {
	ID        string
	Username  string
	Email     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (row) TableName() string { return "users" }

func (r row) user() user.User {
	return user.User{ID: r.ID, Username: r.Username, Email: r.Email, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// Store implements user.Store.
type Store struct {
	db         *gorm.DB
	topic      string
	emailTopic string
	notify     func()
}

// New returns a Store writing user.* events for topic and the email requests a change
// queues (the notice of an address change) for emailTopic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic, emailTopic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, emailTopic: emailTopic, notify: notify}
}

var _ user.Store = (*Store)(nil)

// confirmError carries an error of a user.Confirm out of a transaction untranslated:
// it is the core's own error (a spent code, Redis down), not the database's.
type confirmError struct{ err error }

func (e confirmError) Error() string { return e.err.Error() }

func confirmIn(ctx context.Context, confirm user.Confirm) error {
	if confirm == nil {
		return nil
	}
	if err := confirm(ctx); err != nil {
		return confirmError{err}
	}
	return nil
}

// Create inserts u and its user.created event.
func (s *Store) Create(ctx context.Context, u user.User, confirm user.Confirm) error {
	r := row{ID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		if err := s.enqueue(tx, userevents.Created, u); err != nil {
			return err
		}
		return confirmIn(ctx, confirm)
	})
	if database.IsUniqueViolation(err) {
		// The driver's error names no column on both dialects alike; ask which one.
		var n int64
		if cerr := s.db.WithContext(ctx).Model(&row{}).Where("email = ?", u.Email).Count(&n).Error; cerr != nil {
			return fmt.Errorf("create user: %w", translate(cerr))
		}
		if n > 0 {
			return fmt.Errorf("create user: %w", user.ErrEmailTaken)
		}
		return fmt.Errorf("create user: %w", user.ErrUsernameTaken)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", translate(err))
	}
	s.notify()
	return nil
}

// ByID returns the account with the given id.
func (s *Store) ByID(ctx context.Context, id string) (user.User, error) {
	return s.find(ctx, "id", id)
}

// ByEmail returns the account with the given (normalised) email.
func (s *Store) ByEmail(ctx context.Context, email string) (user.User, error) {
	return s.find(ctx, "email", email)
}

// ByUsername returns the account with the given (normalised) username.
func (s *Store) ByUsername(ctx context.Context, username string) (user.User, error) {
	return s.find(ctx, "username", username)
}

func (s *Store) find(ctx context.Context, column, value string) (user.User, error) {
	var r row
	if err := s.db.WithContext(ctx).Where(column+" = ?", value).Take(&r).Error; err != nil {
		return user.User{}, fmt.Errorf("get user by %s: %w", column, translate(err))
	}
	return r.user(), nil
}

// SetUsername renames the account and records user.updated when the name changed.
func (s *Store) SetUsername(ctx context.Context, id, username string) (user.User, error) {
	var r row
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&row{}).Where("id = ? AND username <> ?", id, username).
			Updates(map[string]any{"username": username, "updated_at": now()})
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
			return err
		}
		if changed = res.RowsAffected > 0; !changed {
			return nil
		}
		return s.enqueue(tx, userevents.Updated, r.user())
	})
	if database.IsUniqueViolation(err) {
		return user.User{}, fmt.Errorf("set username: %w", user.ErrUsernameTaken)
	}
	if err != nil {
		return user.User{}, fmt.Errorf("set username: %w", translate(err))
	}
	if changed {
		s.notify()
	}
	return r.user(), nil
}

// SetEmail moves the account to email. Nothing is recorded: emails stay in auth.
func (s *Store) SetEmail(ctx context.Context, id, email string, notice func(before user.User) user.Email, confirm user.Confirm) (user.User, error) {
	var r row
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The row as it was, locked on PostgreSQL (SQLite's single writer already
		// serialises), so the notice goes to the address this change replaces.
		var before row
		q := tx.Where("id = ?", id)
		if database.Dialect(tx) == database.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&before).Error; err != nil {
			return err
		}
		res := tx.Model(&row{}).Where("id = ?", id).Updates(map[string]any{"email": email, "updated_at": now()})
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
			return err
		}
		if notice != nil && before.Email != email {
			m := notice(before.user())
			e, err := userevents.EmailRequested(m)
			if err != nil {
				return err
			}
			if err := events.Enqueue(tx, s.emailTopic, e); err != nil {
				return err
			}
		}
		return confirmIn(ctx, confirm)
	})
	if database.IsUniqueViolation(err) {
		return user.User{}, fmt.Errorf("set email: %w", user.ErrEmailTaken)
	}
	if err != nil {
		return user.User{}, fmt.Errorf("set email: %w", translate(err))
	}
	s.notify()
	return r.user(), nil
}

// Delete removes the account and records user.deleted.
func (s *Store) Delete(ctx context.Context, id string, confirm user.Confirm) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&row{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		e, err := userevents.Deleted(id)
		if err != nil {
			return err
		}
		if err := events.Enqueue(tx, s.topic, e); err != nil {
			return err
		}
		return confirmIn(ctx, confirm)
	})
	if err != nil {
		return fmt.Errorf("delete user: %w", translate(err))
	}
	s.notify()
	return nil
}

func (s *Store) enqueue(tx *gorm.DB, envelope func(user.User) (events.Envelope, error), u user.User) error {
	e, err := envelope(u)
	if err != nil {
		return err
	}
	return events.Enqueue(tx, s.topic, e)
}

// translate maps what the driver said to the core's errors: a missing row to
// ErrNotFound, a database that cannot be reached or cannot take the load to
// ErrUnavailable (503, try later), and lets a Confirm's own error through as it was.
// Anything else is a bug and stays a plain error (500).
func translate(err error) error {
	var ce confirmError
	switch {
	case errors.As(err, &ce):
		return ce.err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return user.ErrNotFound
	case database.IsUnavailable(err):
		return fmt.Errorf("%w: %w", user.ErrUnavailable, err)
	default:
		return err
	}
}

// now is a change's timestamp: UTC at microsecond precision, what PostgreSQL keeps, so
// a value reads back as it was written on both dialects.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
