// Package postdb stores posts with gorm, in PostgreSQL or SQLite. It translates driver
// errors into the core's (post.ErrNotFound, post.ErrImageInUse, ...) and writes each
// change's post.* event to the outbox in the change's own transaction.
package postdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
	"instant/services/posts/internal/post"
	"instant/services/posts/internal/postevents"
)

// row is a posts row. It stays in this package; the core sees post.Post.
type row struct {
	ID           string
	UserID       string
	Username     string
	Caption      string
	ImageKey     string
	Hashtags     string // JSON array
	Mentions     string // JSON array
	LikeCount    int64
	CommentCount int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (row) TableName() string { return "posts" }

// columns are the posts columns in row order, for the hand-written queries.
const columns = "id, user_id, username, caption, image_key, hashtags, mentions, like_count, comment_count, created_at, updated_at"

func prefixed(alias string) string {
	return alias + "." + strings.ReplaceAll(columns, ", ", ", "+alias+".")
}

func (r row) post() (post.Post, error) {
	p := post.Post{
		ID: r.ID, UserID: r.UserID, Username: r.Username, Caption: r.Caption, ImageKey: r.ImageKey,
		LikeCount: r.LikeCount, CommentCount: r.CommentCount,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := unmarshalList(r.Hashtags, &p.Hashtags); err != nil {
		return post.Post{}, fmt.Errorf("post %s: hashtags: %w", r.ID, err)
	}
	if err := unmarshalList(r.Mentions, &p.Mentions); err != nil {
		return post.Post{}, fmt.Errorf("post %s: mentions: %w", r.ID, err)
	}
	return p, nil
}

// unmarshalList decodes a JSON array of strings; most posts have no tags or mentions, so
// the empty array skips the decoder.
func unmarshalList(s string, into *[]string) error {
	if s == "[]" {
		*into = []string{}
		return nil
	}
	return json.Unmarshal([]byte(s), into)
}

func toRow(p post.Post) (row, error) {
	tags, err := json.Marshal(orEmpty(p.Hashtags))
	if err != nil {
		return row{}, err
	}
	mentions, err := json.Marshal(orEmpty(p.Mentions))
	if err != nil {
		return row{}, err
	}
	return row{
		ID: p.ID, UserID: p.UserID, Username: p.Username, Caption: p.Caption, ImageKey: p.ImageKey,
		Hashtags: string(tags), Mentions: string(mentions), LikeCount: p.LikeCount, CommentCount: p.CommentCount,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Store implements post.Store.
type Store struct {
	db      *gorm.DB
	topic   string
	notify  func()
	dialect string
}

// New returns a Store writing post.* events for topic; notify (the outbox relay's
// Notify, or nil) is called after each commit that enqueued one.
func New(db *gorm.DB, topic string, notify func()) *Store {
	if notify == nil {
		notify = func() {}
	}
	return &Store{db: db, topic: topic, notify: notify, dialect: database.Dialect(db)}
}

var _ post.Store = (*Store)(nil)

// passError carries an error of a core callback out of a transaction untranslated: it
// is the core's own verdict (not yours), not the database's.
type passError struct{ err error }

func (e passError) Error() string { return e.err.Error() }

// Create inserts p, its tags and mentions, and its post.created event. The author's
// username comes from the authors table when a user.* event has told it.
func (s *Store) Create(ctx context.Context, p post.Post) (post.Post, error) {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// An author whose deletion this service has heard of posts nothing, and a post in
		// flight holds the deletion's purge off until it commits.
		if err := tombstone.Guard(tx, tombstone.User(p.UserID)); err != nil {
			return err
		}
		// FOR SHARE on PostgreSQL orders this insert with a concurrent rename: either the
		// rename waits for this commit and then renames this post too, or this waits for
		// the rename and reads the new name.
		q := `SELECT username FROM authors WHERE id = ?`
		if s.dialect == database.Postgres {
			q += ` FOR SHARE`
		}
		var names []string
		if err := tx.Raw(q, p.UserID).Scan(&names).Error; err != nil {
			return err
		}
		if len(names) > 0 {
			p.Username = names[0]
		}
		r, err := toRow(p)
		if err != nil {
			return err
		}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		if err := s.writeTags(tx, p); err != nil {
			return err
		}
		return s.enqueue(tx, postevents.Created, p)
	})
	if database.IsUniqueViolation(err) {
		return post.Post{}, fmt.Errorf("create post: %w", post.ErrImageInUse)
	}
	if err != nil {
		return post.Post{}, fmt.Errorf("create post: %w", translate(err))
	}
	s.notify()
	return p, nil
}

// ByID returns the post with the given id.
func (s *Store) ByID(ctx context.Context, id string) (post.Post, error) {
	p, err := s.find(s.db.WithContext(ctx), id, false)
	if err != nil {
		return post.Post{}, fmt.Errorf("get post: %w", translate(err))
	}
	return p, nil
}

// find reads one post; lock takes its row lock on PostgreSQL (SQLite's single writer
// connection already serialises the transactions that change posts).
func (s *Store) find(tx *gorm.DB, id string, lock bool) (post.Post, error) {
	q := `SELECT ` + columns + ` FROM posts WHERE id = ?`
	if lock && s.dialect == database.Postgres {
		q += ` FOR UPDATE`
	}
	posts, err := scanPosts(tx, q, id)
	if err != nil {
		return post.Post{}, err
	}
	if len(posts) == 0 {
		return post.Post{}, gorm.ErrRecordNotFound
	}
	return posts[0], nil
}

// scanPosts runs a query selecting columns and reads its rows. It scans each row's
// fields by hand: gorm's reflective Scan was a fifth of the service's CPU on a page read.
func scanPosts(tx *gorm.DB, query string, args ...any) ([]post.Post, error) {
	rows, err := tx.Raw(query, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []post.Post
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.UserID, &r.Username, &r.Caption, &r.ImageKey, &r.Hashtags, &r.Mentions,
			&r.LikeCount, &r.CommentCount, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		p, err := r.post()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Update changes a post as change says, with its post.updated event, and replaces its
// tags and mentions.
func (s *Store) Update(ctx context.Context, id string, change func(post.Post) (post.Post, bool, error)) (post.Post, error) {
	var out post.Post
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := s.find(tx, id, true)
		if err != nil {
			return err
		}
		next, ok, err := change(cur)
		if err != nil {
			return passError{err}
		}
		if out, changed = next, ok; !changed {
			return nil
		}
		r, err := toRow(next)
		if err != nil {
			return err
		}
		err = tx.Model(&row{}).Where("id = ?", id).Updates(map[string]any{
			"caption": r.Caption, "hashtags": r.Hashtags, "mentions": r.Mentions, "updated_at": r.UpdatedAt,
		}).Error
		if err != nil {
			return err
		}
		if err := s.deleteTags(tx, id); err != nil {
			return err
		}
		if err := s.writeTags(tx, next); err != nil {
			return err
		}
		return s.enqueue(tx, postevents.Updated, next)
	})
	if err != nil {
		return post.Post{}, fmt.Errorf("update post: %w", translate(err))
	}
	if changed {
		s.notify()
	}
	return out, nil
}

// Delete removes a post with its tags and mentions and records post.deleted.
func (s *Store) Delete(ctx context.Context, id string, check func(post.Post) error) (post.Post, error) {
	var gone post.Post
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := s.find(tx, id, true)
		if err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return passError{err}
		}
		gone = cur
		// The foreign keys cascade too; deleting explicitly keeps the store correct on
		// an SQLite connection opened without foreign_keys.
		if err := s.deleteTags(tx, id); err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM posts WHERE id = ?`, id).Error; err != nil {
			return err
		}
		e, err := postevents.Deleted(cur)
		if err != nil {
			return err
		}
		return events.Enqueue(tx, s.topic, e)
	})
	if err != nil {
		return post.Post{}, fmt.Errorf("delete post: %w", translate(err))
	}
	s.notify()
	return gone, nil
}

// List returns a page of posts, newest first.
func (s *Store) List(ctx context.Context, q post.ListQuery) ([]post.Post, error) {
	query, args := listSQL(q)
	out, err := scanPosts(s.db.WithContext(ctx), query, args...)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", translate(err))
	}
	return out, nil
}

// UsedImageKeys returns those of keys that a post's image is (posts_image_key).
func (s *Store) UsedImageKeys(ctx context.Context, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var used []string
	if err := s.db.WithContext(ctx).Raw(`SELECT image_key FROM posts WHERE image_key IN ?`, keys).Scan(&used).Error; err != nil {
		return nil, fmt.Errorf("used image keys: %w", translate(err))
	}
	return used, nil
}

// listSQL is the query of a page. Each form reads one index in its order (see
// Migrations) and stops after the page: the keyset condition is a row comparison on the
// index's own columns, so a cursor page starts where its index range does. A tag page
// picks its page of post ids first and joins only those to posts, so the join never
// weighs the whole posts table against a rare tag's few rows.
func listSQL(q post.ListQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	table, id := "posts", "id"
	if q.Tag != "" {
		table, id = "post_tags", "post_id"
		where = append(where, `tag = ?`)
		args = append(args, q.Tag)
	} else if q.UserID != "" {
		where = append(where, `user_id = ?`)
		args = append(args, q.UserID)
	}
	if q.After != nil {
		where = append(where, `(created_at, `+id+`) < (?, ?)`)
		args = append(args, q.After.CreatedAt.UTC(), q.After.ID)
	}
	order := ` ORDER BY created_at DESC, ` + id + ` DESC`
	page := ` LIMIT ?`
	args = append(args, q.Limit)
	if q.Offset > 0 {
		page += ` OFFSET ?`
		args = append(args, q.Offset)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	if q.Tag == "" {
		return `SELECT ` + columns + ` FROM ` + table + cond + order + page, args
	}
	return `SELECT ` + prefixed("p") + ` FROM (SELECT post_id, created_at FROM post_tags` + cond + order + page +
		`) t JOIN posts p ON p.id = t.post_id ORDER BY t.created_at DESC, t.post_id DESC`, args
}

// SetAuthor applies a user.* event that names userID's username: it records the name and
// renames the author on their posts, once per event id (consumer names the reader), in
// one transaction with the processed mark.
func (s *Store) SetAuthor(ctx context.Context, consumer, eventID, userID, username string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		first, err := events.MarkProcessed(tx, consumer, eventID)
		if err != nil || !first {
			return err
		}
		err = tx.Exec(`INSERT INTO authors (id, username, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET username = excluded.username, updated_at = excluded.updated_at`,
			userID, username, now()).Error
		if err != nil {
			return err
		}
		return tx.Exec(`UPDATE posts SET username = ? WHERE user_id = ? AND username <> ?`, username, userID, username).Error
	})
	if err != nil {
		return fmt.Errorf("set author: %w", translate(err))
	}
	return nil
}

// The count statements, by counter and direction. One post's like.* (and comment.*)
// events share a key and so arrive in order: a decrement follows the increment of the
// same like. A decrement stops at zero all the same, for one whose increment this
// consumer never saw (a like older than the topic's retention when the consumer first
// started): a negative count would be wrong whatever happened.
var countSQL = map[postevents.Counter][2]string{
	postevents.LikeCount: {
		`UPDATE posts SET like_count = like_count + 1 WHERE id = ?`,
		`UPDATE posts SET like_count = like_count - 1 WHERE id = ? AND like_count > 0`,
	},
	postevents.CommentCount: {
		`UPDATE posts SET comment_count = comment_count + 1 WHERE id = ?`,
		`UPDATE posts SET comment_count = comment_count - 1 WHERE id = ? AND comment_count > 0`,
	},
}

// AddToCount applies a like.* or comment.* event to its post's count, once per event id,
// in one transaction with the processed mark. A post that is gone matches no row: the
// event is marked and changes nothing.
func (s *Store) AddToCount(ctx context.Context, consumer, eventID, postID string, c postevents.Counter, delta int) error {
	stmts, ok := countSQL[c]
	if !ok || (delta != 1 && delta != -1) {
		return fmt.Errorf("add to count: counter %d by %d is not a change posts makes", c, delta)
	}
	stmt := stmts[0]
	if delta < 0 {
		stmt = stmts[1]
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		first, err := events.MarkProcessed(tx, consumer, eventID)
		if err != nil || !first {
			return err
		}
		return tx.Exec(stmt, postID).Error
	})
	if err != nil {
		return fmt.Errorf("add to count: %w", translate(err))
	}
	return nil
}

// PurgeAuthor deletes userID's posts, newest first, in transactions of at most batch
// posts, each with its post.deleted events; the transaction that finds the last of them
// also forgets the author's name and marks eventID processed.
//
// A crash midway is safe without bookkeeping of its own: every batch commits its deletes
// and their events together, and a batch deletes only rows that still exist and emits an
// event only for a row its DELETE removed. Running the purge again (the event is
// redelivered, since it was not marked) picks up the posts that are left, and never
// emits post.deleted twice for one post. A purge is idempotent by construction, so the
// mark records that it completed rather than guarding it: a redelivery after completion
// finds no posts and changes nothing.
//
// It returns how many posts it deleted, also when it fails partway.
func (s *Store) PurgeAuthor(ctx context.Context, consumer, eventID, userID string, batch int) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("purge author: batch %d", batch)
	}
	if err := tombstone.Bury(ctx, s.db, tombstone.User(userID)); err != nil {
		return 0, fmt.Errorf("purge author: %w", translate(err))
	}
	total := 0
	for {
		n, done, err := s.purgeBatch(ctx, consumer, eventID, userID, batch)
		total += n
		if n > 0 {
			s.notify()
		}
		if err != nil {
			return total, fmt.Errorf("purge author: %w", translate(err))
		}
		if done {
			return total, nil
		}
	}
}

// purgeBatch is one transaction of PurgeAuthor: it deletes up to batch of userID's
// posts and reports how many, and whether none are left (then it also forgot the author
// and marked the event). The posts are read through posts_user_created (the author's
// list query) and locked on PostgreSQL, so a concurrent deletion of one of them waits or
// is waited for, and the DELETE's RETURNING says which rows this transaction removed.
func (s *Store) purgeBatch(ctx context.Context, consumer, eventID, userID string, batch int) (int, bool, error) {
	var (
		deleted int
		done    bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The first page of the author's posts: the list query, planned and tested.
		q, args := listSQL(post.ListQuery{UserID: userID, Limit: batch})
		if s.dialect == database.Postgres {
			q += ` FOR UPDATE`
		}
		var rows []row
		if err := tx.Raw(q, args...).Scan(&rows).Error; err != nil {
			return err
		}
		deleted, done = 0, len(rows) < batch
		if len(rows) > 0 {
			ids := make([]string, len(rows))
			for i, r := range rows {
				ids[i] = r.ID
			}
			if err := tx.Exec(`DELETE FROM post_tags WHERE post_id IN ?`, ids).Error; err != nil {
				return err
			}
			if err := tx.Exec(`DELETE FROM post_mentions WHERE post_id IN ?`, ids).Error; err != nil {
				return err
			}
			var gone []string
			if err := tx.Raw(`DELETE FROM posts WHERE id IN ? RETURNING id`, ids).Scan(&gone).Error; err != nil {
				return err
			}
			removed := make(map[string]bool, len(gone))
			for _, id := range gone {
				removed[id] = true
			}
			for _, r := range rows {
				if !removed[r.ID] {
					continue
				}
				// post.deleted needs the ids and the image only.
				p := post.Post{ID: r.ID, UserID: r.UserID, ImageKey: r.ImageKey}
				if err := s.enqueue(tx, postevents.Deleted, p); err != nil {
					return err
				}
				deleted++
			}
		}
		if !done {
			return nil
		}
		if _, err := events.MarkProcessed(tx, consumer, eventID); err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM authors WHERE id = ?`, userID).Error
	})
	if err != nil {
		return 0, false, err
	}
	return deleted, done, nil
}

// writeTags inserts the hashtag and mention rows of p.
func (s *Store) writeTags(tx *gorm.DB, p post.Post) error {
	for _, t := range []struct {
		table, column string
		values        []string
	}{{"post_tags", "tag", p.Hashtags}, {"post_mentions", "username", p.Mentions}} {
		if len(t.values) == 0 {
			continue
		}
		args := make([]any, 0, 3*len(t.values))
		holders := make([]string, 0, len(t.values))
		for _, v := range t.values {
			holders = append(holders, "(?, ?, ?)")
			args = append(args, p.ID, v, p.CreatedAt.UTC())
		}
		stmt := `INSERT INTO ` + t.table + ` (post_id, ` + t.column + `, created_at) VALUES ` + strings.Join(holders, ", ")
		if err := tx.Exec(stmt, args...).Error; err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteTags(tx *gorm.DB, id string) error {
	if err := tx.Exec(`DELETE FROM post_tags WHERE post_id = ?`, id).Error; err != nil {
		return err
	}
	return tx.Exec(`DELETE FROM post_mentions WHERE post_id = ?`, id).Error
}

func (s *Store) enqueue(tx *gorm.DB, envelope func(post.Post) (events.Envelope, error), p post.Post) error {
	e, err := envelope(p)
	if err != nil {
		return err
	}
	return events.Enqueue(tx, s.topic, e)
}

// translate maps what the driver said to the core's errors: a missing row to
// ErrNotFound, a database that cannot be reached or cannot take the load to
// ErrUnavailable (503, try later), and lets a core callback's own error through as it
// was. Anything else is a bug and stays a plain error (500).
func translate(err error) error {
	var pe passError
	switch {
	case errors.As(err, &pe):
		return pe.err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return post.ErrNotFound
	case database.IsUnavailable(err):
		return fmt.Errorf("%w: %w", post.ErrUnavailable, err)
	case tombstone.Gone(err, tombstone.KindUser):
		return fmt.Errorf("%w: %w", post.ErrAccountDeleted, err)
	default:
		return err
	}
}

// now is a change's timestamp: UTC at microsecond precision, what PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
