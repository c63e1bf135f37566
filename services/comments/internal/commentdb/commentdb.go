// Package commentdb stores comments with gorm, in PostgreSQL or SQLite. It translates
// driver errors into the core's (comment.ErrNotFound, comment.ErrUnavailable) and writes
// each change's comment.* event to the outbox in the change's own transaction.
package commentdb

import (
	"context"
	"errors"
	"fmt"
	"instant/platform/database"
	"time"

	"gorm.io/gorm"

	"instant/platform/events"
	"instant/services/comments/internal/comment"
)

// Event types and the producer name on their envelopes (contracts.md).
const (
	TypeCreated = "comment.created"
	TypeDeleted = "comment.deleted"
	producer    = "comments"
)

// CreatedData is the data of comment.created.
type CreatedData struct {
	ID        string    `json:"id"`
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// DeletedData is the data of comment.deleted.
type DeletedData struct {
	ID     string `json:"id"`
	PostID string `json:"post_id"`
	UserID string `json:"user_id"`
}

// The statements, named so the plan test explains exactly what runs.
const (
	columns = `id, post_id, user_id, body, created_at, updated_at`

	sqlInsert = `INSERT INTO comments (` + columns + `) VALUES (?, ?, ?, ?, ?, ?)`
	sqlGet    = `SELECT ` + columns + ` FROM comments WHERE id = ?`
	// A post's comments, oldest first; the row comparison is the keyset condition.
	sqlListFirst = `SELECT ` + columns + ` FROM comments WHERE post_id = ?
		ORDER BY created_at, id LIMIT ?`
	sqlListAfter = `SELECT ` + columns + ` FROM comments WHERE post_id = ? AND (created_at, id) > (?, ?)
		ORDER BY created_at, id LIMIT ?`
	sqlSetBody = `UPDATE comments SET body = ?, updated_at = ? WHERE id = ? AND user_id = ?
		RETURNING ` + columns
	sqlDelete = `DELETE FROM comments WHERE id = ?`
)

// row is a comments row. It stays in this package; the core sees comment.Comment.
type row struct {
	ID        string
	PostID    string
	UserID    string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (r row) comment() comment.Comment {
	return comment.Comment{ID: r.ID, PostID: r.PostID, UserID: r.UserID, Body: r.Body,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// Store implements comment.Store.
type Store struct {
	db     *gorm.DB
	topic  string
	notify func()
}

// New returns a Store writing comment.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify}
}

var _ comment.Store = (*Store)(nil)

// Create inserts c and its comment.created event.
func (s *Store) Create(ctx context.Context, c comment.Comment) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(sqlInsert, c.ID, c.PostID, c.UserID, c.Body, c.CreatedAt.UTC(), c.UpdatedAt.UTC()).Error; err != nil {
			return err
		}
		return s.enqueue(tx, TypeCreated, c.PostID, CreatedData{
			ID: c.ID, PostID: c.PostID, UserID: c.UserID, Body: c.Body, CreatedAt: c.CreatedAt.UTC()})
	})
	if err != nil {
		return fmt.Errorf("insert comment: %w", translate(err))
	}
	s.notify()
	return nil
}

// Get returns one comment.
func (s *Store) Get(ctx context.Context, id string) (comment.Comment, error) {
	var rows []row
	if err := s.db.WithContext(ctx).Raw(sqlGet, id).Scan(&rows).Error; err != nil {
		return comment.Comment{}, fmt.Errorf("get comment: %w", translate(err))
	}
	if len(rows) == 0 {
		return comment.Comment{}, fmt.Errorf("get comment: %w", comment.ErrNotFound)
	}
	return rows[0].comment(), nil
}

// List returns up to limit comments of a post after the cursor, oldest first.
func (s *Store) List(ctx context.Context, postID string, after *comment.Cursor, limit int) ([]comment.Comment, error) {
	db := s.db.WithContext(ctx)
	var rows []row
	if after == nil {
		db = db.Raw(sqlListFirst, postID, limit)
	} else {
		db = db.Raw(sqlListAfter, postID, after.CreatedAt.UTC(), after.ID, limit)
	}
	if err := db.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list comments: %w", translate(err))
	}
	out := make([]comment.Comment, len(rows))
	for i, r := range rows {
		out[i] = r.comment()
	}
	return out, nil
}

// SetBody replaces a comment's body, if userID wrote it.
func (s *Store) SetBody(ctx context.Context, id, userID, body string, at time.Time) (comment.Comment, error) {
	var rows []row
	if err := s.db.WithContext(ctx).Raw(sqlSetBody, body, at.UTC(), id, userID).Scan(&rows).Error; err != nil {
		return comment.Comment{}, fmt.Errorf("set comment body: %w", translate(err))
	}
	if len(rows) == 0 {
		return comment.Comment{}, fmt.Errorf("set comment body: %w", comment.ErrNotFound)
	}
	return rows[0].comment(), nil
}

// Delete removes c and records comment.deleted.
func (s *Store) Delete(ctx context.Context, c comment.Comment) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(sqlDelete, c.ID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return comment.ErrNotFound // deleted meanwhile by a concurrent request
		}
		return s.enqueue(tx, TypeDeleted, c.PostID, DeletedData{ID: c.ID, PostID: c.PostID, UserID: c.UserID})
	})
	if err != nil {
		return fmt.Errorf("delete comment: %w", translate(err))
	}
	s.notify()
	return nil
}

// enqueue records an event keyed by the post id, so one post's comment events stay in
// order on one partition.
func (s *Store) enqueue(tx *gorm.DB, typ, postID string, data any) error {
	e, err := events.NewEnvelope(typ, producer, postID, data)
	if err != nil {
		return err
	}
	return events.Enqueue(tx, s.topic, e)
}

// translate maps what the driver said to the core's errors: a database that cannot be
// reached or cannot take the load to ErrUnavailable (503, try later); the core's own
// errors pass as they are. Anything else is a bug and stays a plain error (500).
func translate(err error) error {
	switch {
	case errors.Is(err, comment.ErrNotFound):
		return err
	case database.IsUnavailable(err):
		return fmt.Errorf("%w: %w", comment.ErrUnavailable, err)
	default:
		return err
	}
}
