// Package feeddb is the feed's read model in PostgreSQL or SQLite, through gorm. Every
// write applies one event at most once (events.MarkProcessed in the write's own
// transaction) and queues, in that transaction, the timeline task the event needs.
// Driver errors become feed.ErrUnavailable where the database could not answer.
package feeddb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/services/feed/internal/feed"
)

// Store implements feed.Store.
type Store struct {
	db       *gorm.DB
	postgres bool
}

var _ feed.Store = (*Store)(nil)

// New returns the store over a migrated database.
func New(db *gorm.DB) *Store {
	return &Store{db: db, postgres: database.Dialect(db) == database.Postgres}
}

// Tombstone kinds.
const (
	deadUser = "user"
	deadPost = "post"
)

// apply runs fn with m's processed-event mark in one transaction; a mark that exists
// already means the event was applied, and fn does not run.
func (s *Store) apply(ctx context.Context, what string, m feed.Mark, fn func(tx *gorm.DB) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		first, err := events.MarkProcessed(tx, m.Consumer, m.EventID)
		if err != nil || !first {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, translate(err))
	}
	return nil
}

// exec runs the statements in order and stops at the first error.
func exec(tx *gorm.DB, stmts ...stmt) error {
	for _, st := range stmts {
		if err := tx.Exec(st.sql, st.args...).Error; err != nil {
			return err
		}
	}
	return nil
}

type stmt struct {
	sql  string
	args []any
}

func st(sql string, args ...any) stmt { return stmt{sql: sql, args: args} }

// dead reports whether any of ids has a tombstone of the kind.
func dead(tx *gorm.DB, kind string, ids ...string) (bool, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM tombstones WHERE kind = ? AND id IN ?`, kind, ids).Scan(&n).Error
	return n > 0, err
}

func bury(tx *gorm.DB, kind, id string) error {
	return tx.Exec(`INSERT INTO tombstones (kind, id, deleted_at) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO NOTHING`,
		kind, id, now()).Error
}

func enqueue(tx *gorm.DB, m feed.Mark, t feed.Task) error {
	t.EventID = m.EventID
	payload, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO timeline_tasks (event_id, kind, payload, created_at) VALUES (?, ?, ?, ?)`,
		m.EventID, string(t.Kind), string(payload), now()).Error
}

// The counts in user_stats, by column. The names are constants, never input.
const (
	postCount      = "post_count"
	followersCount = "followers_count"
	followingCount = "following_count"
)

// bump adds delta to one of user's counts, creating the row at zero first.
func bump(tx *gorm.DB, user, column string, delta int) error {
	if delta < 0 {
		return tx.Exec(`UPDATE user_stats SET `+column+` = `+column+` - ? WHERE user_id = ?`, -delta, user).Error
	}
	return tx.Exec(`INSERT INTO user_stats (user_id, `+column+`) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET `+column+` = user_stats.`+column+` + excluded.`+column, user, delta).Error
}

// SaveUser records a user's name, unless the account was deleted.
func (s *Store) SaveUser(ctx context.Context, m feed.Mark, u feed.User) error {
	return s.apply(ctx, "save user", m, func(tx *gorm.DB) error {
		if gone, err := dead(tx, deadUser, u.ID); err != nil || gone {
			return err
		}
		return tx.Exec(`INSERT INTO users (id, username, created_at, renamed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET username = excluded.username, renamed_at = excluded.renamed_at`,
			u.ID, u.Username, u.CreatedAt.UTC(), now()).Error
	})
}

// DeleteUser forgets an account and everything of it in the read model.
func (s *Store) DeleteUser(ctx context.Context, m feed.Mark, id string, keepPosts, threshold int) error {
	return s.apply(ctx, "delete user", m, func(tx *gorm.DB) error {
		// The accounts this one followed that its going brings down to the threshold.
		var demoted []string
		if err := tx.Raw(`SELECT user_id FROM user_stats WHERE followers_count = ?
			AND user_id IN (SELECT followee_id FROM follows WHERE follower_id = ?)`, threshold+1, id).Scan(&demoted).Error; err != nil {
			return err
		}
		task := feed.Task{Kind: feed.TaskPurgeUser, UserID: id}
		if err := tx.Raw(`SELECT follower_id FROM follows WHERE followee_id = ?`, id).Scan(&task.Followers).Error; err != nil {
			return err
		}
		if err := tx.Raw(`SELECT id FROM post_views WHERE user_id = ? ORDER BY created_ms DESC, id DESC LIMIT ?`,
			id, keepPosts).Scan(&task.Posts).Error; err != nil {
			return err
		}
		at := now()
		err := exec(tx,
			st(`INSERT INTO tombstones (kind, id, deleted_at) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO NOTHING`, deadUser, id, at),
			st(`INSERT INTO tombstones (kind, id, deleted_at) SELECT '`+deadPost+`', id, `+s.timeParam()+` FROM post_views
				WHERE user_id = ? ON CONFLICT (kind, id) DO NOTHING`, at, id),
			// The other ends of the user's follows.
			st(`UPDATE user_stats SET followers_count = followers_count - 1
				WHERE user_id IN (SELECT followee_id FROM follows WHERE follower_id = ?)`, id),
			st(`UPDATE user_stats SET following_count = following_count - 1
				WHERE user_id IN (SELECT follower_id FROM follows WHERE followee_id = ?)`, id),
			st(`DELETE FROM follows WHERE follower_id = ?`, id),
			st(`DELETE FROM follows WHERE followee_id = ?`, id),
			// The user's likes and comments on posts that stay.
			st(`UPDATE post_views SET like_count = like_count - 1
				WHERE id IN (SELECT post_id FROM post_likes WHERE user_id = ?)`, id),
			st(`DELETE FROM post_likes WHERE user_id = ?`, id),
			st(`UPDATE post_views SET comment_count = comment_count -
				(SELECT COUNT(*) FROM post_comments c WHERE c.post_id = post_views.id AND c.user_id = ?)
				WHERE id IN (SELECT post_id FROM post_comments WHERE user_id = ?)`, id, id),
			st(`DELETE FROM post_comments WHERE user_id = ?`, id),
			// The user's posts with what hangs off them.
			st(`DELETE FROM post_likes WHERE post_id IN (SELECT id FROM post_views WHERE user_id = ?)`, id),
			st(`DELETE FROM post_comments WHERE post_id IN (SELECT id FROM post_views WHERE user_id = ?)`, id),
			st(`DELETE FROM post_views WHERE user_id = ?`, id),
			st(`DELETE FROM users WHERE id = ?`, id),
			st(`DELETE FROM user_stats WHERE user_id = ?`, id),
		)
		if err != nil {
			return err
		}
		for _, u := range demoted {
			if err := enqueue(tx, m, feed.Task{Kind: feed.TaskDemote, UserID: u}); err != nil {
				return err
			}
		}
		return enqueue(tx, m, task)
	})
}

// AddPost stores a post view and queues its fan-out.
func (s *Store) AddPost(ctx context.Context, m feed.Mark, p feed.Post) error {
	return s.apply(ctx, "add post", m, func(tx *gorm.DB) error {
		if gone, err := dead(tx, deadPost, p.ID); err != nil || gone {
			return err
		}
		if gone, err := dead(tx, deadUser, p.UserID); err != nil || gone {
			return err
		}
		// Likes and comments can arrive before their post (another topic): the view
		// starts from the sets already seen.
		res := tx.Exec(`INSERT INTO post_views (id, user_id, caption, image_key, like_count, comment_count, created_at, created_ms)
			VALUES (?, ?, ?, ?, (SELECT COUNT(*) FROM post_likes WHERE post_id = ?), (SELECT COUNT(*) FROM post_comments WHERE post_id = ?), ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			p.ID, p.UserID, p.Caption, p.ImageKey, p.ID, p.ID, p.CreatedAt.UTC(), feed.Millis(p.CreatedAt))
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if err := bump(tx, p.UserID, postCount, 1); err != nil {
			return err
		}
		return enqueue(tx, m, feed.Task{Kind: feed.TaskFanOut, PostID: p.ID})
	})
}

// UpdatePost changes a post's caption.
func (s *Store) UpdatePost(ctx context.Context, m feed.Mark, id, caption string) error {
	return s.apply(ctx, "update post", m, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE post_views SET caption = ? WHERE id = ?`, caption, id).Error
	})
}

// DeletePost forgets a post and queues its removal from timelines.
func (s *Store) DeletePost(ctx context.Context, m feed.Mark, id, userID string) error {
	return s.apply(ctx, "delete post", m, func(tx *gorm.DB) error {
		if err := bury(tx, deadPost, id); err != nil {
			return err
		}
		if err := exec(tx, st(`DELETE FROM post_likes WHERE post_id = ?`, id), st(`DELETE FROM post_comments WHERE post_id = ?`, id)); err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM post_views WHERE id = ?`, id)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if err := bump(tx, userID, postCount, -1); err != nil {
			return err
		}
		return enqueue(tx, m, feed.Task{Kind: feed.TaskUnpost, PostID: id, UserID: userID})
	})
}

// AddFollow records an edge and queues the backfill.
func (s *Store) AddFollow(ctx context.Context, m feed.Mark, follower, followee string, at time.Time) error {
	return s.apply(ctx, "add follow", m, func(tx *gorm.DB) error {
		if follower == followee {
			return nil
		}
		if gone, err := dead(tx, deadUser, follower, followee); err != nil || gone {
			return err
		}
		res := tx.Exec(`INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (follower_id, followee_id) DO NOTHING`, follower, followee, at.UTC())
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if err := bump(tx, followee, followersCount, 1); err != nil {
			return err
		}
		if err := bump(tx, follower, followingCount, 1); err != nil {
			return err
		}
		return enqueue(tx, m, feed.Task{Kind: feed.TaskBackfill, UserID: follower, OtherID: followee})
	})
}

// RemoveFollow removes an edge and queues the removal of the followee's posts from the
// follower's timeline.
func (s *Store) RemoveFollow(ctx context.Context, m feed.Mark, follower, followee string, threshold int) error {
	return s.apply(ctx, "remove follow", m, func(tx *gorm.DB) error {
		res := tx.Exec(`DELETE FROM follows WHERE follower_id = ? AND followee_id = ?`, follower, followee)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if err := bump(tx, followee, followersCount, -1); err != nil {
			return err
		}
		if err := bump(tx, follower, followingCount, -1); err != nil {
			return err
		}
		var left int64
		if err := tx.Raw(`SELECT followers_count FROM user_stats WHERE user_id = ?`, followee).Scan(&left).Error; err != nil {
			return err
		}
		if left == int64(threshold) {
			if err := enqueue(tx, m, feed.Task{Kind: feed.TaskDemote, UserID: followee}); err != nil {
				return err
			}
		}
		return enqueue(tx, m, feed.Task{Kind: feed.TaskUnfollow, UserID: follower, OtherID: followee})
	})
}

// AddLike adds to a post's likes set.
func (s *Store) AddLike(ctx context.Context, m feed.Mark, postID, userID string) error {
	return s.apply(ctx, "add like", m, func(tx *gorm.DB) error {
		if gone, err := s.gone(tx, postID, userID); err != nil || gone {
			return err
		}
		res := tx.Exec(`INSERT INTO post_likes (post_id, user_id) VALUES (?, ?) ON CONFLICT (post_id, user_id) DO NOTHING`, postID, userID)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.Exec(`UPDATE post_views SET like_count = like_count + 1 WHERE id = ?`, postID).Error
	})
}

// RemoveLike takes from a post's likes set.
func (s *Store) RemoveLike(ctx context.Context, m feed.Mark, postID, userID string) error {
	return s.apply(ctx, "remove like", m, func(tx *gorm.DB) error {
		res := tx.Exec(`DELETE FROM post_likes WHERE post_id = ? AND user_id = ?`, postID, userID)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.Exec(`UPDATE post_views SET like_count = like_count - 1 WHERE id = ?`, postID).Error
	})
}

// AddComment adds to a post's comments set.
func (s *Store) AddComment(ctx context.Context, m feed.Mark, id, postID, userID string) error {
	return s.apply(ctx, "add comment", m, func(tx *gorm.DB) error {
		if gone, err := s.gone(tx, postID, userID); err != nil || gone {
			return err
		}
		res := tx.Exec(`INSERT INTO post_comments (id, post_id, user_id) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, postID, userID)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.Exec(`UPDATE post_views SET comment_count = comment_count + 1 WHERE id = ?`, postID).Error
	})
}

// RemoveComment takes from a post's comments set.
func (s *Store) RemoveComment(ctx context.Context, m feed.Mark, id, postID string) error {
	return s.apply(ctx, "remove comment", m, func(tx *gorm.DB) error {
		res := tx.Exec(`DELETE FROM post_comments WHERE id = ?`, id)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.Exec(`UPDATE post_views SET comment_count = comment_count - 1 WHERE id = ?`, postID).Error
	})
}

// gone reports whether the post or the user was deleted.
func (s *Store) gone(tx *gorm.DB, postID, userID string) (bool, error) {
	if g, err := dead(tx, deadPost, postID); err != nil || g {
		return g, err
	}
	return dead(tx, deadUser, userID)
}

// PendingTasks returns the oldest queued tasks.
func (s *Store) PendingTasks(ctx context.Context, limit int) ([]feed.Task, error) {
	var rows []struct {
		Seq     int64
		EventID string
		Kind    string
		Payload string
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT seq, event_id, kind, payload FROM timeline_tasks ORDER BY seq LIMIT ?`, limit).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("pending tasks: %w", translate(err))
	}
	out := make([]feed.Task, len(rows))
	for i, r := range rows {
		var t feed.Task
		if err := json.Unmarshal([]byte(r.Payload), &t); err != nil {
			// Unreadable: handed on with its kind blanked, so the runner drops it.
			t = feed.Task{}
		} else {
			t.Kind = feed.TaskKind(r.Kind)
		}
		t.Seq, t.EventID = r.Seq, r.EventID
		out[i] = t
	}
	return out, nil
}

// FinishTasks removes tasks that ran, in one statement: one commit for a drained batch
// instead of one per task (each commit waits for a WAL flush).
func (s *Store) FinishTasks(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM timeline_tasks WHERE seq IN ?`, seqs).Error; err != nil {
		return fmt.Errorf("finish tasks: %w", translate(err))
	}
	return nil
}

type refRow struct {
	ID        string
	CreatedMs int64
}

func refs(rows []refRow) []feed.Ref {
	out := make([]feed.Ref, len(rows))
	for i, r := range rows {
		out[i] = feed.Ref{Ms: r.CreatedMs, ID: r.ID}
	}
	return out
}

// PostRef finds a post's place and author.
func (s *Store) PostRef(ctx context.Context, id string) (feed.Ref, string, bool, error) {
	var rows []struct {
		UserID    string
		CreatedMs int64
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT user_id, created_ms FROM post_views WHERE id = ?`, id).Scan(&rows).Error; err != nil {
		return feed.Ref{}, "", false, fmt.Errorf("post ref: %w", translate(err))
	}
	if len(rows) == 0 {
		return feed.Ref{}, "", false, nil
	}
	return feed.Ref{Ms: rows[0].CreatedMs, ID: id}, rows[0].UserID, true, nil
}

// FollowerCount is user's followers_count.
func (s *Store) FollowerCount(ctx context.Context, user string) (int64, error) {
	var n []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT followers_count FROM user_stats WHERE user_id = ?`, user).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("follower count: %w", translate(err))
	}
	if len(n) == 0 {
		return 0, nil
	}
	return n[0], nil
}

// Followers walks user's followers in id order.
func (s *Store) Followers(ctx context.Context, user, after string, limit int) ([]string, error) {
	q := followersQuery(user, after, limit)
	var ids []string
	if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("followers: %w", translate(err))
	}
	return ids, nil
}

// followersQuery reads a page of followers from follows_followee, in its order.
func followersQuery(user, after string, limit int) query {
	if after == "" {
		return query{`SELECT follower_id FROM follows WHERE followee_id = ? ORDER BY follower_id LIMIT ?`, []any{user, limit}}
	}
	return query{`SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? ORDER BY follower_id LIMIT ?`,
		[]any{user, after, limit}}
}

// Follows reports whether the edge exists.
func (s *Store) Follows(ctx context.Context, follower, followee string) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM follows WHERE follower_id = ? AND followee_id = ?`,
		follower, followee).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("follows: %w", translate(err))
	}
	return n > 0, nil
}

// AuthorRefs returns author's newest posts.
func (s *Store) AuthorRefs(ctx context.Context, author string, limit int) ([]feed.Ref, error) {
	var rows []refRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, created_ms FROM post_views WHERE user_id = ?
		ORDER BY created_ms DESC, id DESC LIMIT ?`, author, limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("author refs: %w", translate(err))
	}
	return refs(rows), nil
}

// AuthoredBy returns those of ids that author wrote.
func (s *Store) AuthoredBy(ctx context.Context, author string, ids []string) ([]string, error) {
	ids = validIDs(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var out []string
	if err := s.db.WithContext(ctx).Raw(`SELECT id FROM post_views WHERE user_id = ? AND id IN ?`, author, ids).
		Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("authored by: %w", translate(err))
	}
	return out, nil
}

// timeParam is a timestamp parameter where PostgreSQL cannot infer its type (a SELECT
// list).
func (s *Store) timeParam() string {
	if s.postgres {
		return `CAST(? AS TIMESTAMPTZ)`
	}
	return `?`
}

// query is one list statement with its arguments. The list statements are built by
// named functions so the plan test explains exactly what runs.
type query struct {
	sql  string
	args []any
}

// network is the set of authors in a user's home feed: the people they follow and
// themselves. Its one parameter is the viewer, twice.
func (s *Store) network() string {
	self := `?`
	if s.postgres {
		self = `CAST(? AS UUID)`
	}
	return `(SELECT followee_id FROM follows WHERE follower_id = ? UNION ALL SELECT ` + self + `)`
}

// after adds the keyset condition of a cursor.
func after(where string, args []any, cur *feed.Ref) (string, []any) {
	if cur == nil {
		return where, args
	}
	return where + ` AND (p.created_ms, p.id) < (?, ?)`, append(args, cur.Ms, cur.ID)
}

const newestFirst = ` ORDER BY p.created_ms DESC, p.id DESC LIMIT ?`

func refsQuery(where string, args []any, cur *feed.Ref, limit int) query {
	where, args = after(where, args, cur)
	return query{`SELECT p.id, p.created_ms FROM post_views p WHERE ` + where + newestFirst, append(args, limit)}
}

func (s *Store) networkRefsQuery(viewer string, cur *feed.Ref, limit int) query {
	return refsQuery(`p.user_id IN `+s.network(), []any{viewer, viewer}, cur, limit)
}

func authorsRefsQuery(authors []string, cur *feed.Ref, limit int) query {
	return refsQuery(`p.user_id IN ?`, []any{authors}, cur, limit)
}

// itemSelect reads posts as a viewer sees them; its three parameters are the viewer.
// liked_by_me and in_network are primary-key probes per post (outer joins rather than
// EXISTS, which PostgreSQL may turn into a hash of all the viewer's likes or follows).
// itemSelect hydrates posts for a viewer. liked_by_me and in_network are scalar
// subqueries with LIMIT 1, one index lookup per returned row. As joins — and even as
// EXISTS, which PostgreSQL may turn into a hashed subplan — the generic plan of this
// prepared statement read all of the viewer's follow rows for every page, so a page
// cost grew with the number of accounts followed (22 ms at 10,000; 0.3 ms this way).
const itemSelect = `SELECT p.id, p.user_id, COALESCE(u.username, '') AS username, p.caption, p.image_key,
	p.like_count, p.comment_count, p.created_at, p.created_ms,
	(SELECT 1 FROM post_likes l WHERE l.post_id = p.id AND l.user_id = ? LIMIT 1) IS NOT NULL AS liked_by_me,
	(p.user_id = ? OR (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = p.user_id LIMIT 1) IS NOT NULL) AS in_network
	FROM post_views p
	LEFT JOIN users u ON u.id = p.user_id`

func itemsQuery(viewer, where string, args []any, cur *feed.Ref, limit int) query {
	where, args = after(where, args, cur)
	all := append([]any{viewer, viewer, viewer}, args...)
	if limit == 0 {
		return query{itemSelect + ` WHERE ` + where, all}
	}
	return query{itemSelect + ` WHERE ` + where + newestFirst, append(all, limit)}
}

func authorItemsQuery(viewer, author string, cur *feed.Ref, limit int) query {
	return itemsQuery(viewer, `p.user_id = ?`, []any{author}, cur, limit)
}

func recentItemsQuery(viewer string, cur *feed.Ref, limit int) query {
	return itemsQuery(viewer, `1 = 1`, nil, cur, limit)
}

func byIDsQuery(viewer string, ids []string) query {
	return itemsQuery(viewer, `p.id IN ?`, []any{ids}, nil, 0)
}

// followedCelebritiesQuery starts from the few accounts above the threshold and probes
// the viewer's edge to each, so its cost does not grow with the viewer's follows.
func followedCelebritiesQuery(viewer string, threshold int) query {
	return query{`SELECT s.user_id AS followee_id FROM user_stats s
		WHERE s.followers_count > ?
		AND (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = s.user_id LIMIT 1) IS NOT NULL`,
		[]any{threshold, viewer}}
}

func (s *Store) refs(ctx context.Context, what string, q query) ([]feed.Ref, error) {
	var rows []refRow
	if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	return refs(rows), nil
}

// NetworkRefs returns the newest posts of viewer and the people they follow after the
// cursor.
func (s *Store) NetworkRefs(ctx context.Context, viewer string, cur *feed.Ref, limit int) ([]feed.Ref, error) {
	return s.refs(ctx, "network refs", s.networkRefsQuery(viewer, cur, limit))
}

// AuthorsRefs returns the newest posts of authors after the cursor.
func (s *Store) AuthorsRefs(ctx context.Context, authors []string, cur *feed.Ref, limit int) ([]feed.Ref, error) {
	if len(authors) == 0 {
		return nil, nil
	}
	return s.refs(ctx, "authors refs", authorsRefsQuery(authors, cur, limit))
}

// FollowedCelebrities returns the celebrities viewer follows: the few users above the
// threshold (an index range), each checked against viewer's edges by primary key, so
// the cost does not grow with how many accounts viewer follows.
func (s *Store) FollowedCelebrities(ctx context.Context, viewer string, threshold int) ([]string, error) {
	q := followedCelebritiesQuery(viewer, threshold)
	var ids []string
	if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("followed celebrities: %w", translate(err))
	}
	return ids, nil
}

type itemRow struct {
	ID           string
	UserID       string
	Username     string
	Caption      string
	ImageKey     string
	LikeCount    int64
	CommentCount int64
	CreatedAt    time.Time
	CreatedMs    int64
	LikedByMe    bool
	InNetwork    bool
}

func (r itemRow) item() feed.Item {
	return feed.Item{
		Ref: feed.Ref{Ms: r.CreatedMs, ID: r.ID}, Author: feed.Author{ID: r.UserID, Username: r.Username},
		Caption: r.Caption, ImageKey: r.ImageKey, LikeCount: r.LikeCount, CommentCount: r.CommentCount,
		LikedByMe: r.LikedByMe, CreatedAt: r.CreatedAt.UTC(), InNetwork: r.InNetwork,
	}
}

func (s *Store) items(ctx context.Context, what string, q query) ([]feed.Item, error) {
	var rows []itemRow
	if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	out := make([]feed.Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// Items returns the existing posts among ids, as viewer sees them.
func (s *Store) Items(ctx context.Context, viewer string, ids []string) (map[string]feed.Item, error) {
	ids = validIDs(ids)
	if len(ids) == 0 {
		return map[string]feed.Item{}, nil
	}
	items, err := s.items(ctx, "items", byIDsQuery(viewer, ids))
	if err != nil {
		return nil, err
	}
	out := make(map[string]feed.Item, len(items))
	for _, it := range items {
		out[it.ID] = it
	}
	return out, nil
}

// NetworkItems is a page of viewer's home feed from the read model alone: the page's
// refs first (one index-only range per followee), then those posts by primary key. As
// one statement, the wide rows lead PostgreSQL to scan the table.
func (s *Store) NetworkItems(ctx context.Context, viewer string, cur *feed.Ref, limit int) ([]feed.Item, error) {
	refs, err := s.NetworkRefs(ctx, viewer, cur, limit)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	byID, err := s.Items(ctx, viewer, ids)
	if err != nil {
		return nil, fmt.Errorf("network items: %w", err)
	}
	out := make([]feed.Item, 0, len(refs))
	for _, r := range refs {
		if it, ok := byID[r.ID]; ok { // gone between the two reads: skipped
			out = append(out, it)
		}
	}
	return out, nil
}

// AuthorItems is a page of author's posts.
func (s *Store) AuthorItems(ctx context.Context, viewer, author string, cur *feed.Ref, limit int) ([]feed.Item, error) {
	return s.items(ctx, "author items", authorItemsQuery(viewer, author, cur, limit))
}

// RecentItems is a page of everyone's posts.
func (s *Store) RecentItems(ctx context.Context, viewer string, cur *feed.Ref, limit int) ([]feed.Item, error) {
	return s.items(ctx, "recent items", recentItemsQuery(viewer, cur, limit))
}

type userRow struct {
	ID        string
	Username  string
	CreatedAt time.Time
}

func (s *Store) user(ctx context.Context, query string, arg string) (feed.User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Raw(query, arg).Scan(&rows).Error; err != nil {
		return feed.User{}, fmt.Errorf("user: %w", translate(err))
	}
	if len(rows) == 0 {
		return feed.User{}, feed.ErrUserNotFound
	}
	return feed.User{ID: rows[0].ID, Username: rows[0].Username, CreatedAt: rows[0].CreatedAt.UTC()}, nil
}

// UserByID finds an account by id.
func (s *Store) UserByID(ctx context.Context, id string) (feed.User, error) {
	return s.user(ctx, `SELECT id, username, created_at FROM users WHERE id = ?`, id)
}

// UserByName finds an account by username. Two accounts can hold one name for a moment
// (a rename and a sign-up travel on different partitions); the latest change wins.
func (s *Store) UserByName(ctx context.Context, username string) (feed.User, error) {
	return s.user(ctx, `SELECT id, username, created_at FROM users WHERE username = ? ORDER BY renamed_at DESC LIMIT 1`, username)
}

// Stats returns user's counts and whether viewer follows them.
func (s *Store) Stats(ctx context.Context, viewer, user string) (feed.Stats, error) {
	var rows []struct {
		PostCount      int64
		FollowersCount int64
		FollowingCount int64
	}
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT post_count, followers_count, following_count FROM user_stats WHERE user_id = ?`, user).
		Scan(&rows).Error; err != nil {
		return feed.Stats{}, fmt.Errorf("stats: %w", translate(err))
	}
	var st feed.Stats
	if len(rows) > 0 {
		st = feed.Stats{Posts: rows[0].PostCount, Followers: rows[0].FollowersCount, Following: rows[0].FollowingCount}
	}
	if viewer != user {
		ok, err := s.Follows(ctx, viewer, user)
		if err != nil {
			return feed.Stats{}, fmt.Errorf("stats: %w", err)
		}
		st.FollowedByMe = ok
	}
	return st, nil
}

// validIDs keeps the well-formed ids: what a uuid column can be asked about.
func validIDs(ids []string) []string {
	out := ids[:0:0]
	for _, id := range ids {
		if feed.ValidID(id) {
			out = append(out, id)
		}
	}
	return out
}

// translate maps a driver error to the core's: a database that cannot answer now to
// ErrUnavailable (503, try later). Anything else is a bug and stays a plain error.
func translate(err error) error {
	if database.IsUnavailable(err) && !errors.Is(err, feed.ErrUnavailable) {
		return fmt.Errorf("%w: %w", feed.ErrUnavailable, err)
	}
	return err
}

// now is the time written to the tables: UTC at microsecond precision, as PostgreSQL
// keeps it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
