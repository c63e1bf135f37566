// Package likedb stores likes and like counts with gorm, in PostgreSQL or SQLite. It
// translates driver errors into the core's (like.ErrUnavailable) and writes each real
// change's like.* event to the outbox in the change's own transaction.
package likedb

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
	"instant/services/likes/internal/like"
)

// Event types and the producer name on their envelopes (contracts.md).
const (
	TypeCreated = "like.created"
	TypeDeleted = "like.deleted"
	producer    = "likes"
)

// EventData is the data of like.created and like.deleted. CreatedAt is when the like
// was made, in both: like.deleted describes the like that was removed, and the
// envelope's occurred_at says when it was.
type EventData struct {
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
}

// The statements, named so the plan test explains exactly what runs.
const (
	// The primary key turns a repeated or concurrent like into no row: RowsAffected is 0.
	sqlInsertLike = `INSERT INTO likes (post_id, user_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (post_id, user_id) DO NOTHING`
	sqlDeleteLike = `DELETE FROM likes WHERE post_id = ? AND user_id = ? RETURNING created_at`
	// The count row is locked by the first writer; concurrent likes of one post queue on
	// it, each adding exactly its own one.
	sqlIncrement = `INSERT INTO like_counts (post_id, count) VALUES (?, 1)
		ON CONFLICT (post_id) DO UPDATE SET count = like_counts.count + 1 RETURNING count`
	sqlDecrement = `UPDATE like_counts SET count = count - 1 WHERE post_id = ? RETURNING count`
	sqlCount     = `SELECT count FROM like_counts WHERE post_id = ?`

	// A post's likers, newest first. "created_at <= ?" repeats the cursor's bound in a
	// form the index range scan can start from; the OR then drops the cursor's own
	// instant up to and including the last user listed.
	sqlLikersFirst = `SELECT user_id, created_at FROM likes WHERE post_id = ?
		ORDER BY created_at DESC, user_id LIMIT ?`
	sqlLikersAfter = `SELECT user_id, created_at FROM likes WHERE post_id = ?
		AND created_at <= ? AND (created_at < ? OR user_id > ?)
		ORDER BY created_at DESC, user_id LIMIT ?`

	sqlCounts     = `SELECT post_id, count FROM like_counts WHERE post_id IN ?`
	sqlLikedAmong = `SELECT post_id FROM likes WHERE user_id = ? AND post_id IN ?`

	// The purges, a batch at a time: a deleted post's likes (a range of the primary
	// key) and a deleted account's (through likes_user). Both read in (post_id,
	// user_id) order and lock what they read on PostgreSQL (forUpdate), so a post's
	// purge and an account's, which share that account's like of the post, take their
	// rows in one global order and never deadlock.
	sqlPostBatch      = `SELECT user_id FROM likes WHERE post_id = ? ORDER BY user_id LIMIT ?`
	sqlDeletePostMany = `DELETE FROM likes WHERE post_id = ? AND user_id IN ?`
	sqlDeleteCount    = `DELETE FROM like_counts WHERE post_id = ?`
	sqlUserBatch      = `SELECT post_id FROM likes WHERE user_id = ? ORDER BY post_id LIMIT ?`
	sqlDeleteUserMany = `DELETE FROM likes WHERE user_id = ? AND post_id IN ? RETURNING post_id, created_at`
	// Count rows are locked in post id order before a batch moves them, so two purges
	// sharing posts lock them in one global order and never deadlock.
	sqlLockCounts  = `SELECT post_id FROM like_counts WHERE post_id IN ? ORDER BY post_id FOR UPDATE`
	sqlDecrementIn = `UPDATE like_counts SET count = count - 1 WHERE post_id IN ?`
)

// Store implements like.Store.
type Store struct {
	db      *gorm.DB
	topic   string
	notify  func()
	dialect string
}

// New returns a Store writing like.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify, dialect: database.Dialect(db)}
}

var _ like.Store = (*Store)(nil)

// Like inserts the like unless it exists; only a real insert moves the count and
// records like.created, in the same transaction.
func (s *Store) Like(ctx context.Context, postID, userID string, at time.Time) (like.State, bool, error) {
	st := like.State{PostID: postID, Liked: true}
	var changed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A like of a post (or by an account) whose deletion this service has heard of is
		// refused, and one in flight holds the deletion's purge off until it commits.
		if err := tombstone.Guard(tx, tombstone.Post(postID), tombstone.User(userID)); err != nil {
			return err
		}
		res := tx.Exec(sqlInsertLike, postID, userID, at.UTC())
		if res.Error != nil {
			return res.Error
		}
		if changed = res.RowsAffected == 1; !changed {
			return tx.Raw(sqlCount, postID).Scan(&st.Count).Error
		}
		if err := tx.Raw(sqlIncrement, postID).Scan(&st.Count).Error; err != nil {
			return err
		}
		return s.enqueue(tx, TypeCreated, EventData{PostID: postID, UserID: userID, CreatedAt: at.UTC()})
	})
	if err != nil {
		return like.State{}, false, fmt.Errorf("like: %w", translate(err))
	}
	if changed {
		s.notify()
	}
	return st, changed, nil
}

// Unlike deletes the like if it exists; only a real delete moves the count and records
// like.deleted, in the same transaction.
func (s *Store) Unlike(ctx context.Context, postID, userID string) (like.State, bool, error) {
	st := like.State{PostID: postID}
	var changed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var created []time.Time
		res := tx.Raw(sqlDeleteLike, postID, userID).Scan(&created)
		if res.Error != nil {
			return res.Error
		}
		if changed = res.RowsAffected == 1 && len(created) == 1; !changed {
			return tx.Raw(sqlCount, postID).Scan(&st.Count).Error
		}
		if err := tx.Raw(sqlDecrement, postID).Scan(&st.Count).Error; err != nil {
			return err
		}
		return s.enqueue(tx, TypeDeleted, EventData{PostID: postID, UserID: userID, CreatedAt: created[0].UTC()})
	})
	if err != nil {
		return like.State{}, false, fmt.Errorf("unlike: %w", translate(err))
	}
	if changed {
		s.notify()
	}
	return st, changed, nil
}

// Likers returns a page of a post's likes, newest first.
func (s *Store) Likers(ctx context.Context, postID string, after *like.Cursor, limit int) ([]like.Like, error) {
	db := s.db.WithContext(ctx)
	var rows []struct {
		UserID    string
		CreatedAt time.Time
	}
	if after == nil {
		db = db.Raw(sqlLikersFirst, postID, limit)
	} else {
		at := after.CreatedAt.UTC()
		db = db.Raw(sqlLikersAfter, postID, at, at, after.UserID, limit)
	}
	if err := db.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("likers: %w", translate(err))
	}
	out := make([]like.Like, len(rows))
	for i, r := range rows {
		out[i] = like.Like{PostID: postID, UserID: r.UserID, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// Summaries reads the counts of the posts, and which of them viewer likes, with two
// primary-key lookups whatever the number of posts.
func (s *Store) Summaries(ctx context.Context, postIDs []string, viewer string) ([]like.Summary, error) {
	db := s.db.WithContext(ctx)
	var counts []struct {
		PostID string
		Count  int64
	}
	if err := db.Raw(sqlCounts, postIDs).Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("like counts: %w", translate(err))
	}
	var liked []string
	if viewer != "" {
		if err := db.Raw(sqlLikedAmong, viewer, postIDs).Scan(&liked).Error; err != nil {
			return nil, fmt.Errorf("liked by viewer: %w", translate(err))
		}
	}
	byPost := make(map[string]int64, len(counts))
	for _, c := range counts {
		byPost[c.PostID] = c.Count
	}
	mine := make(map[string]bool, len(liked))
	for _, id := range liked {
		mine[id] = true
	}
	out := make([]like.Summary, len(postIDs))
	for i, id := range postIDs {
		out[i] = like.Summary{PostID: id, Count: byPost[id], LikedByMe: mine[id]}
	}
	return out, nil
}

// forUpdate makes a purge batch's SELECT lock its rows, on PostgreSQL (SQLite's one
// writer connection already serialises the purges).
func (s *Store) forUpdate(query string) string {
	if s.dialect == database.Postgres {
		return query + ` FOR UPDATE`
	}
	return query
}

// PurgePost deletes the likes of a deleted post, at most batch per transaction, and
// records no event: the post is gone, and whoever counted its likes forgets them with
// it. The transaction that finds the last of them also deletes the post's count and
// marks eventID processed by consumer. A purge cut short by a crash is finished by
// running it again; meanwhile the count only overstates the likes left, never
// understates them. It returns how many likes it deleted, also when it fails partway.
func (s *Store) PurgePost(ctx context.Context, consumer, eventID, postID string, batch int) (int, error) {
	if err := tombstone.Bury(ctx, s.db, tombstone.Post(postID)); err != nil {
		return 0, fmt.Errorf("purge post's likes: %w", translate(err))
	}
	n, err := s.purge(ctx, batch, func(tx *gorm.DB) (int, bool, error) {
		n, done, err := s.purgePostBatch(tx, postID, batch)
		if err != nil || !done {
			return n, done, err
		}
		_, err = events.MarkProcessed(tx, consumer, eventID)
		return n, done, err
	})
	if err != nil {
		return n, fmt.Errorf("purge post's likes: %w", err)
	}
	return n, nil
}

// purgePostBatch deletes up to batch of postID's likes inside tx, and the post's count
// with the last of them. It reports how many it deleted and whether that was the last
// batch.
func (s *Store) purgePostBatch(tx *gorm.DB, postID string, batch int) (int, bool, error) {
	var users []string
	if err := tx.Raw(s.forUpdate(sqlPostBatch), postID, batch).Scan(&users).Error; err != nil {
		return 0, false, err
	}
	deleted := 0
	if len(users) > 0 {
		res := tx.Exec(sqlDeletePostMany, postID, users)
		if res.Error != nil {
			return 0, false, res.Error
		}
		deleted = int(res.RowsAffected)
	}
	if len(users) == batch {
		return deleted, false, nil
	}
	return deleted, true, tx.Exec(sqlDeleteCount, postID).Error
}

// PurgeUser deletes the likes a deleted account made, at most batch per transaction,
// moving each post's count down in the same transaction and recording like.deleted for
// each (so posts' like counts drop). A batch emits an event and moves a count only for a
// like its DELETE removed (RETURNING), so a purge resumed after a crash, or run again,
// never counts or emits twice. The transaction that finds the last of them marks
// eventID processed by consumer. It returns how many likes it deleted, also when it
// fails partway.
func (s *Store) PurgeUser(ctx context.Context, consumer, eventID, userID string, batch int) (int, error) {
	if err := tombstone.Bury(ctx, s.db, tombstone.User(userID)); err != nil {
		return 0, fmt.Errorf("purge user's likes: %w", translate(err))
	}
	n, err := s.purge(ctx, batch, func(tx *gorm.DB) (int, bool, error) {
		n, done, err := s.purgeUserBatch(tx, userID, batch)
		if err != nil || !done {
			return n, done, err
		}
		_, err = events.MarkProcessed(tx, consumer, eventID)
		return n, done, err
	})
	if err != nil {
		return n, fmt.Errorf("purge user's likes: %w", err)
	}
	return n, nil
}

// purgeUserBatch deletes up to batch of userID's likes inside tx. It reports how many
// it deleted and whether that was the last batch, judged on what the SELECT found, not
// on what the DELETE removed, so a like taken back meanwhile cannot end the purge early.
func (s *Store) purgeUserBatch(tx *gorm.DB, userID string, batch int) (int, bool, error) {
	var posts []string
	if err := tx.Raw(s.forUpdate(sqlUserBatch), userID, batch).Scan(&posts).Error; err != nil {
		return 0, false, err
	}
	done := len(posts) < batch
	if len(posts) == 0 {
		return 0, done, nil
	}
	var gone []struct {
		PostID    string
		CreatedAt time.Time
	}
	if err := tx.Raw(sqlDeleteUserMany, userID, posts).Scan(&gone).Error; err != nil {
		return 0, false, err
	}
	if len(gone) == 0 {
		return 0, done, nil
	}
	ids := make([]string, len(gone))
	for i, g := range gone {
		ids[i] = g.PostID
	}
	if s.dialect == database.Postgres {
		var locked []string
		if err := tx.Raw(sqlLockCounts, ids).Scan(&locked).Error; err != nil {
			return 0, false, err
		}
	}
	// One like per post and user: each post's count drops by exactly one.
	if err := tx.Exec(sqlDecrementIn, ids).Error; err != nil {
		return 0, false, err
	}
	for _, g := range gone {
		if err := s.enqueue(tx, TypeDeleted, EventData{PostID: g.PostID, UserID: userID, CreatedAt: g.CreatedAt.UTC()}); err != nil {
			return 0, false, err
		}
	}
	return len(gone), done, nil
}

// purge runs batch transactions until one reports it was the last, and returns how many
// likes they deleted. The relay is woken after each batch that may have recorded events.
func (s *Store) purge(ctx context.Context, batch int, step func(tx *gorm.DB) (int, bool, error)) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("batch %d", batch)
	}
	total := 0
	for {
		var n int
		var done bool
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			n, done, err = step(tx)
			return err
		})
		if err != nil {
			return total, translate(err)
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

// enqueue records an event keyed by the post id, so one post's like events stay in
// order on one partition.
func (s *Store) enqueue(tx *gorm.DB, typ string, data EventData) error {
	e, err := events.NewEnvelope(typ, producer, data.PostID, data)
	if err != nil {
		return err
	}
	return events.Enqueue(tx, s.topic, e)
}

// translate maps what the driver said to the core's errors: a database that cannot be
// reached or cannot take the load to ErrUnavailable (503, try later). Anything else is
// a bug and stays a plain error (500).
func translate(err error) error {
	switch {
	case database.IsUnavailable(err):
		return fmt.Errorf("%w: %w", like.ErrUnavailable, err)
	case tombstone.Gone(err, tombstone.KindPost):
		return fmt.Errorf("%w: %w", like.ErrPostNotFound, err)
	case tombstone.Gone(err, tombstone.KindUser):
		return fmt.Errorf("%w: %w", like.ErrAccountDeleted, err)
	}
	return err
}
