// Package commentdb stores comments with gorm, in PostgreSQL or SQLite. It translates
// driver errors into the core's (comment.ErrNotFound, comment.ErrUnavailable) and writes
// each change's comment.* event to the outbox in the change's own transaction.
package commentdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
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

	// The purges, a batch at a time: a deleted post's comments (through
	// comments_post_created) and a deleted account's (through comments_user).
	sqlPostBatch  = `SELECT id FROM comments WHERE post_id = ? ORDER BY created_at, id LIMIT ?`
	sqlUserBatch  = `SELECT id FROM comments WHERE user_id = ? LIMIT ?`
	sqlDeleteMany = `DELETE FROM comments WHERE id IN ? RETURNING id, post_id, user_id`
	// On PostgreSQL a batch locks its comments in id order before deleting them. A
	// deleted account's comments on its own posts are in two purges at once (its
	// post.deleted events and its user.deleted); one order keeps them from deadlocking.
	sqlLockMany = `SELECT id FROM comments WHERE id IN ? ORDER BY id FOR UPDATE`
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
	db      *gorm.DB
	topic   string
	notify  func()
	dialect string
}

// New returns a Store writing comment.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify, dialect: database.Dialect(db)}
}

var _ comment.Store = (*Store)(nil)

// Create inserts c and its comment.created event.
func (s *Store) Create(ctx context.Context, c comment.Comment) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A comment on a post (or by an account) whose deletion this service has heard of
		// is refused, and one in flight holds the deletion's purge off until it commits.
		if err := tombstone.Guard(tx, tombstone.Post(c.PostID), tombstone.User(c.UserID)); err != nil {
			return err
		}
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

// PurgePost deletes the comments of a deleted post, at most batch per transaction, and
// records no event: the post is gone, and whoever counted its comments forgets them
// with it. The transaction that finds the last of them marks eventID processed by
// consumer. A purge cut short by a crash is finished by running it again: a batch
// deletes what is still there, so running it twice deletes nothing twice. It returns
// how many comments it deleted, also when it fails partway.
func (s *Store) PurgePost(ctx context.Context, consumer, eventID, postID string, batch int) (int, error) {
	if err := tombstone.Bury(ctx, s.db, tombstone.Post(postID)); err != nil {
		return 0, fmt.Errorf("purge post's comments: %w", translate(err))
	}
	n, err := s.purge(ctx, consumer, eventID, sqlPostBatch, postID, batch, false)
	if err != nil {
		return n, fmt.Errorf("purge post's comments: %w", err)
	}
	return n, nil
}

// PurgeUser deletes the comments a deleted account wrote, at most batch per
// transaction, each with its comment.deleted (so posts' comment counts drop). A batch
// emits an event only for a comment its DELETE removed, so a purge resumed after a
// crash, or run again, never emits twice for one comment. The transaction that finds
// the last of them marks eventID processed by consumer. It returns how many comments it
// deleted, also when it fails partway.
func (s *Store) PurgeUser(ctx context.Context, consumer, eventID, userID string, batch int) (int, error) {
	if err := tombstone.Bury(ctx, s.db, tombstone.User(userID)); err != nil {
		return 0, fmt.Errorf("purge user's comments: %w", translate(err))
	}
	n, err := s.purge(ctx, consumer, eventID, sqlUserBatch, userID, batch, true)
	if err != nil {
		return n, fmt.Errorf("purge user's comments: %w", err)
	}
	return n, nil
}

// purge runs batches until one finds fewer than batch comments (that last transaction
// also marks the event), and returns how many comments it deleted.
func (s *Store) purge(ctx context.Context, consumer, eventID, selectBatch, id string, batch int, emit bool) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("batch %d", batch)
	}
	total := 0
	for {
		n, done, err := s.purgeBatch(ctx, consumer, eventID, selectBatch, id, batch, emit)
		if err != nil {
			return total, translate(err)
		}
		total += n
		if emit && n > 0 {
			s.notify()
		}
		if done {
			return total, nil
		}
	}
}

// purgeBatch is one transaction of a purge: selectBatch(id, batch) finds up to batch
// comments, the DELETE removes those still there and says which (RETURNING), and
// comment.deleted is recorded for each of those when emit. It reports how many it
// deleted and whether that was the last batch, judged on what the SELECT found, not on
// what the DELETE removed, so a comment removed meanwhile by its author cannot end the
// purge early. The last batch marks the event.
func (s *Store) purgeBatch(ctx context.Context, consumer, eventID, selectBatch, id string, batch int, emit bool) (int, bool, error) {
	var (
		n    int
		done bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ids []string
		if err := tx.Raw(selectBatch, id, batch).Scan(&ids).Error; err != nil {
			return err
		}
		n, done = 0, len(ids) < batch
		if len(ids) > 0 {
			if s.dialect == database.Postgres {
				var locked []string
				if err := tx.Raw(sqlLockMany, ids).Scan(&locked).Error; err != nil {
					return err
				}
			}
			var gone []row
			if err := tx.Raw(sqlDeleteMany, ids).Scan(&gone).Error; err != nil {
				return err
			}
			n = len(gone)
			if emit {
				for _, c := range gone {
					if err := s.enqueue(tx, TypeDeleted, c.PostID, DeletedData{ID: c.ID, PostID: c.PostID, UserID: c.UserID}); err != nil {
						return err
					}
				}
			}
		}
		if !done {
			return nil
		}
		_, err := events.MarkProcessed(tx, consumer, eventID)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, done, nil
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
	case tombstone.Gone(err, tombstone.KindPost):
		return fmt.Errorf("%w: %w", comment.ErrPostNotFound, err)
	case tombstone.Gone(err, tombstone.KindUser):
		return fmt.Errorf("%w: %w", comment.ErrAccountDeleted, err)
	default:
		return err
	}
}
