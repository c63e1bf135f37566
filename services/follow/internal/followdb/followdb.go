// Package followdb stores the follow graph with gorm, in PostgreSQL or SQLite. It keeps
// the counts and writes each change's follow.* event to the outbox in the change's own
// transaction, and translates driver errors into the core's (follow.ErrUnavailable).
package followdb

import (
	"context"
	"fmt"
	"instant/platform/database"
	"time"

	"gorm.io/gorm"

	"instant/platform/events"
	"instant/services/follow/internal/follow"
	"instant/services/follow/internal/followevents"
)

// Store implements follow.Store.
type Store struct {
	db     *gorm.DB
	topic  string
	notify func()
}

// New returns a Store writing follow.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify}
}

var _ follow.Store = (*Store)(nil)

// The statements of a change. Whether a follow really began or ended is what the
// database says it did (rows affected), never what a read before the write saw: two
// concurrent follows of one user both read "not following", but only one insert lands.
const (
	insertFollow = `INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (follower_id, followee_id) DO NOTHING`
	deleteFollow = `DELETE FROM follows WHERE follower_id = ? AND followee_id = ? RETURNING created_at`
	// Count rows are always changed in user id order, so concurrent changes lock them in
	// one global order and never deadlock (A follows B while B follows A). addCounts
	// creates a user's row on their first follow; a decrement is a plain update, because
	// the row exists while any follow does (and the CHECKs would refuse the negative row
	// an upsert proposes before it finds the conflict).
	addCounts = `INSERT INTO follow_counts (user_id, followers, following) VALUES (?, ?, ?), (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET
			followers = follow_counts.followers + excluded.followers,
			following = follow_counts.following + excluded.following`
	subtractCounts = `UPDATE follow_counts SET followers = followers - ?, following = following - ? WHERE user_id = ?`
	selectCounts   = `SELECT user_id, followers, following FROM follow_counts WHERE user_id IN ?`
)

// The list queries, newest first. The order is the order of their indexes
// (follows_followers, follows_following), and the cursor is a row-value comparison on
// the same columns, so PostgreSQL starts the index scan at the cursor and stops after
// limit rows.
const (
	selectFollowers = `SELECT follower_id AS user_id, created_at AS followed_at FROM follows
		WHERE followee_id = ?
		ORDER BY created_at DESC, follower_id DESC LIMIT ?`
	selectFollowersAfter = `SELECT follower_id AS user_id, created_at AS followed_at FROM follows
		WHERE followee_id = ? AND (created_at, follower_id) < (?, ?)
		ORDER BY created_at DESC, follower_id DESC LIMIT ?`
	selectFollowing = `SELECT followee_id AS user_id, created_at AS followed_at FROM follows
		WHERE follower_id = ?
		ORDER BY created_at DESC, followee_id DESC LIMIT ?`
	selectFollowingAfter = `SELECT followee_id AS user_id, created_at AS followed_at FROM follows
		WHERE follower_id = ? AND (created_at, followee_id) < (?, ?)
		ORDER BY created_at DESC, followee_id DESC LIMIT ?`
)

// Follow inserts follower → followee unless it exists; only an insert that landed
// counts and records follow.created.
func (s *Store) Follow(ctx context.Context, follower, followee string, at time.Time) (bool, follow.Counts, error) {
	var (
		added bool
		c     follow.Counts
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(insertFollow, follower, followee, at.UTC())
		if res.Error != nil {
			return res.Error
		}
		if added = res.RowsAffected == 1; added {
			if err := s.change(tx, follower, followee, true, followevents.Created, at); err != nil {
				return err
			}
		}
		var err error
		c, err = countsOf(tx, followee)
		return err
	})
	if err != nil {
		return false, follow.Counts{}, fmt.Errorf("follow: %w", translate(err))
	}
	if added {
		s.notify()
	}
	return added, c, nil
}

// Unfollow deletes follower → followee if it exists; only a delete that removed the row
// counts and records follow.deleted.
func (s *Store) Unfollow(ctx context.Context, follower, followee string) (bool, follow.Counts, error) {
	var (
		removed bool
		c       follow.Counts
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var gone []struct{ CreatedAt time.Time }
		if err := tx.Raw(deleteFollow, follower, followee).Scan(&gone).Error; err != nil {
			return err
		}
		if removed = len(gone) == 1; removed {
			if err := s.change(tx, follower, followee, false, followevents.Deleted, gone[0].CreatedAt); err != nil {
				return err
			}
		}
		var err error
		c, err = countsOf(tx, followee)
		return err
	})
	if err != nil {
		return false, follow.Counts{}, fmt.Errorf("unfollow: %w", translate(err))
	}
	if removed {
		s.notify()
	}
	return removed, c, nil
}

type envelopeFunc func(follower, followee string, at time.Time) (events.Envelope, error)

// change counts a follow that began (added) or ended: one more or one less in the
// follower's following and the followee's followers; and it enqueues the event, inside tx.
func (s *Store) change(tx *gorm.DB, follower, followee string, added bool, envelope envelopeFunc, at time.Time) error {
	type step struct {
		id                   string
		followers, following int
	}
	a, b := step{follower, 0, 1}, step{followee, 1, 0}
	if b.id < a.id {
		a, b = b, a
	}
	if added {
		if err := tx.Exec(addCounts, a.id, a.followers, a.following, b.id, b.followers, b.following).Error; err != nil {
			return err
		}
	} else {
		for _, u := range []step{a, b} {
			res := tx.Exec(subtractCounts, u.followers, u.following, u.id)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("no counts row for user %s, who had a follow", u.id)
			}
		}
	}
	e, err := envelope(follower, followee, at)
	if err != nil {
		return err
	}
	return events.Enqueue(tx, s.topic, e)
}

type countsRow struct {
	UserID    string
	Followers int64
	Following int64
}

func countsOf(tx *gorm.DB, id string) (follow.Counts, error) {
	cs, err := counts(tx, []string{id})
	if err != nil {
		return follow.Counts{}, err
	}
	return cs[0], nil
}

// counts reads the counts of ids, in order; users without a row have zeros.
func counts(db *gorm.DB, ids []string) ([]follow.Counts, error) {
	var rows []countsRow
	if err := db.Raw(selectCounts, ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	byID := make(map[string]countsRow, len(rows))
	for _, r := range rows {
		byID[r.UserID] = r
	}
	out := make([]follow.Counts, len(ids))
	for i, id := range ids {
		r := byID[id]
		out[i] = follow.Counts{UserID: id, Followers: r.Followers, Following: r.Following}
	}
	return out, nil
}

// Counts returns the counts of ids, in order.
func (s *Store) Counts(ctx context.Context, ids []string) ([]follow.Counts, error) {
	cs, err := counts(s.db.WithContext(ctx), ids)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", translate(err))
	}
	return cs, nil
}

// Relation looks both directions up by primary key in one query.
func (s *Store) Relation(ctx context.Context, viewer, user string) (bool, bool, error) {
	var followers []string
	err := s.db.WithContext(ctx).Raw(`SELECT follower_id FROM follows
		WHERE (follower_id = ? AND followee_id = ?) OR (follower_id = ? AND followee_id = ?)`,
		viewer, user, user, viewer).Scan(&followers).Error
	if err != nil {
		return false, false, fmt.Errorf("relation: %w", translate(err))
	}
	var viewerFollows, userFollows bool
	for _, f := range followers {
		switch f {
		case viewer:
			viewerFollows = true
		case user:
			userFollows = true
		}
	}
	return viewerFollows, userFollows, nil
}

// Followers returns followers of user, newest first.
func (s *Store) Followers(ctx context.Context, user string, after *follow.Cursor, limit int) ([]follow.Edge, error) {
	edges, err := s.list(ctx, selectFollowers, selectFollowersAfter, user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("followers: %w", err)
	}
	return edges, nil
}

// Following returns the users user follows, newest first.
func (s *Store) Following(ctx context.Context, user string, after *follow.Cursor, limit int) ([]follow.Edge, error) {
	edges, err := s.list(ctx, selectFollowing, selectFollowingAfter, user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("following: %w", err)
	}
	return edges, nil
}

type edgeRow struct {
	UserID     string
	FollowedAt time.Time
}

func (s *Store) list(ctx context.Context, first, next, user string, after *follow.Cursor, limit int) ([]follow.Edge, error) {
	var rows []edgeRow
	db := s.db.WithContext(ctx)
	var err error
	if after == nil {
		err = db.Raw(first, user, limit).Scan(&rows).Error
	} else {
		err = db.Raw(next, user, after.At.UTC(), after.UserID, limit).Scan(&rows).Error
	}
	if err != nil {
		return nil, translate(err)
	}
	out := make([]follow.Edge, len(rows))
	for i, r := range rows {
		out[i] = follow.Edge{UserID: r.UserID, FollowedAt: r.FollowedAt.UTC()}
	}
	return out, nil
}

// translate maps what the driver said to the core's errors: a database that cannot be
// reached or cannot take the load to ErrUnavailable (503, try later). Anything else is a
// bug and stays a plain error (500).
func translate(err error) error {
	if database.IsUnavailable(err) {
		return fmt.Errorf("%w: %w", follow.ErrUnavailable, err)
	}
	return err
}
