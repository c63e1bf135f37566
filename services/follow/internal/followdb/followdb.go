// Package followdb stores the follow graph with gorm, in PostgreSQL or SQLite. It keeps
// the counts and writes each change's follow.* event to the outbox in the change's own
// transaction, and translates driver errors into the core's (follow.ErrUnavailable).
package followdb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
	"instant/services/follow/internal/follow"
	"instant/services/follow/internal/followevents"
)

// Store implements follow.Store.
type Store struct {
	db      *gorm.DB
	topic   string
	notify  func()
	dialect string
}

// New returns a Store writing follow.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify, dialect: database.Dialect(db)}
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

// The purge of a deleted account, a batch at a time: the users it follows (through the
// primary key), then its followers (through follows_followers). Each DELETE says which
// edges it removed, and only those are counted and announced.
const (
	selectFollowingBatch = `SELECT followee_id FROM follows WHERE follower_id = ? LIMIT ?`
	selectFollowersBatch = `SELECT follower_id FROM follows WHERE followee_id = ? LIMIT ?`
	deleteFollowingMany  = `DELETE FROM follows WHERE follower_id = ? AND followee_id IN ?
		RETURNING follower_id, followee_id, created_at`
	deleteFollowersMany = `DELETE FROM follows WHERE followee_id = ? AND follower_id IN ?
		RETURNING follower_id, followee_id, created_at`
	// On PostgreSQL a batch locks its edges in primary-key order before deleting them:
	// two accounts that follow each other, purged at once, would otherwise each hold
	// one direction of their pair and wait for the other's.
	lockEdges = `SELECT follower_id FROM follows
		WHERE (follower_id = ? AND followee_id IN ?) OR (followee_id = ? AND follower_id IN ?)
		ORDER BY follower_id, followee_id FOR UPDATE`
	// The account's own counts row goes once it is back to zeros; a follow that reached
	// it meanwhile keeps it, since the row exists while any follow does.
	deleteEmptyCounts = `DELETE FROM follow_counts WHERE user_id = ? AND followers = 0 AND following = 0`
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
		// An account whose deletion this service has heard of neither follows nor is
		// followed, and a follow in flight holds the deletion's purge off until it commits.
		if err := tombstone.Guard(tx, tombstone.User(follower), tombstone.User(followee)); err != nil {
			var g *tombstone.GoneError
			if errors.As(err, &g) && g.Ref.ID == follower {
				return fmt.Errorf("%w: %w", follow.ErrAccountDeleted, err)
			}
			if errors.As(err, &g) {
				return fmt.Errorf("%w: %w", follow.ErrUserNotFound, err)
			}
			return err
		}
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

// PurgeUser removes a deleted account from the graph: every follow it made and every
// follow of it, at most batch per transaction, each with its follow.deleted (the feed
// drops the timelines they fed) and one less in the counts of the user at the other end,
// in the same transaction. The transaction that finds the last of them drops the
// account's own counts and marks eventID processed by consumer.
//
// A crash midway is safe: a batch counts and announces only the edges its DELETE
// removed, so the redelivered event finishes the purge and never counts or emits twice
// for one edge. It returns how many follows it removed, also when it fails partway.
func (s *Store) PurgeUser(ctx context.Context, consumer, eventID, userID string, batch int) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("purge user's follows: batch %d", batch)
	}
	if err := tombstone.Bury(ctx, s.db, tombstone.User(userID)); err != nil {
		return 0, fmt.Errorf("purge user's follows: %w", translate(err))
	}
	total := 0
	for {
		var (
			n    int
			done bool
		)
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			n, done, err = s.purgeBatch(tx, userID, batch)
			if err != nil || !done {
				return err
			}
			if err := tx.Exec(deleteEmptyCounts, userID).Error; err != nil {
				return err
			}
			_, err = events.MarkProcessed(tx, consumer, eventID)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge user's follows: %w", translate(err))
		}
		total += n
		if n > 0 {
			s.notify()
		}
		if done {
			return total, nil
		}
	}
}

// removedEdge is a follow a purge removed.
type removedEdge struct {
	FollowerID string
	FolloweeID string
	CreatedAt  time.Time
}

// purgeBatch removes up to batch of userID's edges inside tx: those it follows first,
// then its followers. It reports how many it removed and whether that was the last
// batch, judged on what the SELECTs found, not on what the DELETEs removed, so an edge
// removed meanwhile by an unfollow cannot end the purge early.
func (s *Store) purgeBatch(tx *gorm.DB, userID string, batch int) (int, bool, error) {
	var followees, followers []string
	if err := tx.Raw(selectFollowingBatch, userID, batch).Scan(&followees).Error; err != nil {
		return 0, false, err
	}
	if len(followees) < batch {
		if err := tx.Raw(selectFollowersBatch, userID, batch-len(followees)).Scan(&followers).Error; err != nil {
			return 0, false, err
		}
	}
	found := len(followees) + len(followers)
	if found == 0 {
		return 0, true, nil
	}
	if s.dialect == database.Postgres {
		var locked []string
		if err := tx.Raw(lockEdges, userID, orNone(followees), userID, orNone(followers)).Scan(&locked).Error; err != nil {
			return 0, false, err
		}
	}
	var removed []removedEdge
	for _, side := range []struct {
		del    string
		others []string
	}{{deleteFollowingMany, followees}, {deleteFollowersMany, followers}} {
		if len(side.others) == 0 {
			continue
		}
		var rows []removedEdge
		if err := tx.Raw(side.del, userID, side.others).Scan(&rows).Error; err != nil {
			return 0, false, err
		}
		removed = append(removed, rows...)
	}
	if err := s.uncount(tx, removed); err != nil {
		return 0, false, err
	}
	for _, e := range removed {
		ev, err := followevents.Deleted(e.FollowerID, e.FolloweeID, e.CreatedAt)
		if err != nil {
			return 0, false, err
		}
		if err := events.Enqueue(tx, s.topic, ev); err != nil {
			return 0, false, err
		}
	}
	return len(removed), found < batch, nil
}

// orNone is ids, or a list matching no user when there are none: "IN ()" is not SQL.
func orNone(ids []string) []string {
	if len(ids) == 0 {
		return []string{"00000000-0000-0000-0000-000000000000"}
	}
	return ids
}

// uncount takes the removed edges off the counts: one follower less for each followee,
// one following less for each follower. The rows are changed in user id order, the
// order every change of the counts keeps, so this never deadlocks with a follow.
func (s *Store) uncount(tx *gorm.DB, removed []removedEdge) error {
	type delta struct{ followers, following int }
	by := map[string]*delta{}
	at := func(id string) *delta {
		if by[id] == nil {
			by[id] = &delta{}
		}
		return by[id]
	}
	for _, e := range removed {
		at(e.FollowerID).following++
		at(e.FolloweeID).followers++
	}
	ids := slices.Sorted(maps.Keys(by))
	for _, id := range ids {
		d := by[id]
		res := tx.Exec(subtractCounts, d.followers, d.following, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("no counts row for user %s, who had a follow", id)
		}
	}
	return nil
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
