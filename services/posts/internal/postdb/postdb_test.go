package postdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/posts/internal/post"
	"instant/services/posts/internal/postevents"
)

func open(t *testing.T, dsn string) (*gorm.DB, *Store) {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "posts", Migrations()); err != nil {
		t.Fatal(err)
	}
	return db, New(db, "post.events", nil)
}

func dsns() map[string]func(*testing.T) string {
	return map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
		"sqlite":   func(t *testing.T) string { return testenv.SQLite(t) },
	}
}

func newPost(user string, at time.Time, tags ...string) post.Post {
	id := uuid.Must(uuid.NewV7()).String()
	return post.Post{ID: id, UserID: user, Caption: "c", ImageKey: "users/" + user + "/" + id + ".jpg",
		Hashtags: tags, Mentions: []string{}, CreatedAt: at, UpdatedAt: at}
}

// TestKeysetTies pages through posts that share a timestamp: the id breaks the tie, so
// no post is repeated or skipped at a page boundary, in every list.
func TestKeysetTies(t *testing.T) {
	for name, dsn := range dsns() {
		t.Run(name, func(t *testing.T) {
			_, s := open(t, dsn(t))
			ctx := context.Background()
			user := uuid.NewString()
			at := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
			var want []string
			for i := range 7 {
				stamp := at
				if i >= 5 {
					stamp = at.Add(-time.Microsecond * time.Duration(i)) // older, after the ties
				}
				p, err := s.Create(ctx, newPost(user, stamp, "tie"))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, p.ID)
			}
			// Newest first: the five ties by id descending, then the two older posts.
			wantOrder := []string{want[4], want[3], want[2], want[1], want[0], want[5], want[6]}
			for _, q := range []post.ListQuery{{}, {UserID: user}, {Tag: "tie"}} {
				var got []string
				var after *post.Cursor
				for {
					q.After, q.Limit = after, 2
					page, err := s.List(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range page {
						got = append(got, p.ID)
					}
					if len(page) < 2 {
						break
					}
					last := page[len(page)-1]
					after = &post.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
				}
				if diff := cmp.Diff(wantOrder, got); diff != "" {
					t.Fatalf("%+v pages (-want +got):\n%s", q, diff)
				}
			}
		})
	}
}

// TestRoundTrip checks that a post reads back as written, timestamps included.
func TestRoundTrip(t *testing.T) {
	for name, dsn := range dsns() {
		t.Run(name, func(t *testing.T) {
			_, s := open(t, dsn(t))
			ctx := context.Background()
			p := newPost(uuid.NewString(), time.Now().UTC().Truncate(time.Microsecond), "a", "b")
			p.Mentions = []string{"alice"}
			if _, err := s.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			got, err := s.ByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Fatalf("read back (-want +got):\n%s", diff)
			}
			if _, err := s.ByID(ctx, uuid.NewString()); !errors.Is(err, post.ErrNotFound) {
				t.Fatalf("missing post: %v", err)
			}
			dup := newPost(p.UserID, p.CreatedAt)
			dup.ImageKey = p.ImageKey
			if _, err := s.Create(ctx, dup); !errors.Is(err, post.ErrImageInUse) {
				t.Fatalf("second post on one image: %v", err)
			}
		})
	}
}

// TestSetAuthor applies user.* names once per event and renames the author's posts.
func TestSetAuthor(t *testing.T) {
	for name, dsn := range dsns() {
		t.Run(name, func(t *testing.T) {
			_, s := open(t, dsn(t))
			ctx := context.Background()
			user := uuid.NewString()
			before, err := s.Create(ctx, newPost(user, time.Now().UTC().Truncate(time.Microsecond)))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetAuthor(ctx, "posts", "ev-1", user, "alice"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetAuthor(ctx, "posts", "ev-2", user, "alice2"); err != nil {
				t.Fatal(err)
			}
			// A redelivered earlier event changes nothing.
			if err := s.SetAuthor(ctx, "posts", "ev-1", user, "alice"); err != nil {
				t.Fatal(err)
			}
			got, err := s.ByID(ctx, before.ID)
			if err != nil || got.Username != "alice2" {
				t.Fatalf("username = %q, %v; want alice2", got.Username, err)
			}
			after, err := s.Create(ctx, newPost(user, time.Now().UTC().Truncate(time.Microsecond)))
			if err != nil || after.Username != "alice2" {
				t.Fatalf("new post username = %q, %v", after.Username, err)
			}
		})
	}
}

// TestListPlansUseIndexes runs EXPLAIN on PostgreSQL, with planner statistics over a
// few thousand posts and sequential scans allowed, for every list query: each must read
// an index and never scan or sort a table. Where the list is long (all posts, a prolific
// author, a popular tag) the index must deliver the order itself: no sort at all. For a
// short list (an author or tag with a few dozen posts) the planner may fetch its rows
// through the index and sort those few; that sort is bounded by the list, not the table.
func TestListPlansUseIndexes(t *testing.T) {
	db, _ := open(t, testenv.Postgres(t))
	users := make([]string, 40)
	for i := range users {
		users[i] = uuid.NewString()
	}
	prolific, light := users[0], users[3]
	start := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Microsecond)
	const total, batch = 5000, 500
	var cursor *post.Cursor
	for b := 0; b < total; b += batch {
		var posts, tags []string
		var pargs, targs []any
		for i := b; i < b+batch; i++ {
			user := prolific // a fifth of the posts are one author's
			if i%5 != 0 {
				user = users[1+i%(len(users)-1)]
			}
			p := newPost(user, start.Add(time.Duration(i)*time.Second))
			posts = append(posts, "(?, ?, ?, ?, ?, ?)")
			pargs = append(pargs, p.ID, p.UserID, p.Caption, p.ImageKey, p.CreatedAt, p.UpdatedAt)
			names := []string{fmt.Sprintf("t%d", i%200)}
			if i%3 == 0 {
				names = append(names, "travel")
			}
			for _, n := range names {
				tags = append(tags, "(?, ?, ?)")
				targs = append(targs, p.ID, n, p.CreatedAt)
			}
			if i == total/2 {
				cursor = &post.Cursor{CreatedAt: p.CreatedAt, ID: p.ID}
			}
		}
		if err := db.Exec(`INSERT INTO posts (id, user_id, caption, image_key, created_at, updated_at) VALUES `+
			strings.Join(posts, ", "), pargs...).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec(`INSERT INTO post_tags (post_id, tag, created_at) VALUES `+strings.Join(tags, ", "), targs...).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec(`ANALYZE`).Error; err != nil {
		t.Fatal(err)
	}
	userIndexes := []string{"posts_user_created", "posts_created"}
	for _, tc := range []struct {
		name    string
		q       post.ListQuery
		indexes []string // one of them must be read
		maxSort int      // rows a sort may take; 0: no sort
	}{
		{"all_first_page", post.ListQuery{Limit: 21}, []string{"posts_created"}, 0},
		{"all_cursor", post.ListQuery{Limit: 21, After: cursor}, []string{"posts_created"}, 0},
		{"all_offset", post.ListQuery{Limit: 21, Offset: 40}, []string{"posts_created"}, 0},
		{"prolific_user_first_page", post.ListQuery{UserID: prolific, Limit: 21}, userIndexes, 0},
		{"prolific_user_cursor", post.ListQuery{UserID: prolific, Limit: 21, After: cursor}, userIndexes, 0},
		{"prolific_user_offset", post.ListQuery{UserID: prolific, Limit: 21, Offset: 20}, userIndexes, 0},
		{"light_user_first_page", post.ListQuery{UserID: light, Limit: 21}, userIndexes, total / 20},
		{"light_user_cursor", post.ListQuery{UserID: light, Limit: 21, After: cursor}, userIndexes, total / 20},
		{"tag_first_page", post.ListQuery{Tag: "travel", Limit: 21}, []string{"post_tags_tag"}, 21},
		{"tag_cursor", post.ListQuery{Tag: "travel", Limit: 21, After: cursor}, []string{"post_tags_tag"}, 21},
		{"tag_offset", post.ListQuery{Tag: "travel", Limit: 21, Offset: 20}, []string{"post_tags_tag"}, 21},
		{"rare_tag", post.ListQuery{Tag: "t7", Limit: 21}, []string{"post_tags_tag"}, 2 * total / 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := listSQL(tc.q)
			var lines []string
			if err := db.Raw("EXPLAIN "+query, args...).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			usesIndex := false
			for _, ix := range tc.indexes {
				usesIndex = usesIndex || strings.Contains(plan, "Index Scan using "+ix+" ") ||
					strings.Contains(plan, "Index Only Scan using "+ix+" ") ||
					strings.Contains(plan, "Bitmap Index Scan on "+ix+" ")
			}
			if !usesIndex || strings.Contains(plan, "Seq Scan") {
				t.Fatalf("plan reads none of %v, or scans a table:\n%s", tc.indexes, plan)
			}
			for _, l := range lines {
				if !strings.Contains(l, "Sort  (cost=") {
					continue
				}
				var rows int
				if _, err := fmt.Sscanf(l[strings.Index(l, "rows="):], "rows=%d", &rows); err != nil {
					t.Fatalf("unreadable sort line %q", l)
				}
				if rows > tc.maxSort {
					t.Fatalf("plan sorts %d rows (at most %d allowed):\n%s", rows, tc.maxSort, plan)
				}
			}
		})
	}
}

// TestAddToCount applies like and comment events: each event id once, a decrement never
// below zero, an event about a post that is gone a no-op.
func TestAddToCount(t *testing.T) {
	for name, dsn := range dsns() {
		t.Run(name, func(t *testing.T) {
			_, s := open(t, dsn(t))
			ctx := context.Background()
			p, err := s.Create(ctx, newPost(uuid.NewString(), time.Now().UTC().Truncate(time.Microsecond)))
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				event string
				c     postevents.Counter
				delta int
			}{
				{"like-1", postevents.LikeCount, 1},
				{"like-2", postevents.LikeCount, 1},
				{"like-1", postevents.LikeCount, 1}, // redelivered
				{"unlike-1", postevents.LikeCount, -1},
				{"unlike-1", postevents.LikeCount, -1}, // redelivered
				{"comment-1", postevents.CommentCount, 1},
				{"uncomment-1", postevents.CommentCount, -1},
				{"uncomment-2", postevents.CommentCount, -1}, // would go below zero
				{"comment-2", postevents.CommentCount, 1},
			}
			for _, st := range steps {
				if err := s.AddToCount(ctx, "posts", st.event, p.ID, st.c, st.delta); err != nil {
					t.Fatalf("%s: %v", st.event, err)
				}
			}
			got, err := s.ByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.LikeCount != 1 || got.CommentCount != 1 {
				t.Fatalf("like_count = %d, comment_count = %d; want 1 and 1", got.LikeCount, got.CommentCount)
			}
			if err := s.AddToCount(ctx, "posts", "like-gone", uuid.NewString(), postevents.LikeCount, 1); err != nil {
				t.Fatalf("an event about a missing post: %v", err)
			}
			if err := s.AddToCount(ctx, "posts", "bad", p.ID, postevents.LikeCount, 2); err == nil {
				t.Fatal("a delta of 2 was applied")
			}
		})
	}
}

// TestPurgeAuthor deletes an account's posts in batches. The first run stops after one
// batch, as a crash would; the redelivered event finishes the purge. Every post goes
// with exactly one post.deleted, nobody else's post is touched, the author's name is
// forgotten, and a purge run again after completion changes nothing.
func TestPurgeAuthor(t *testing.T) {
	for name, dsn := range dsns() {
		t.Run(name, func(t *testing.T) {
			db, s := open(t, dsn(t))
			ctx := context.Background()
			gone, kept := uuid.NewString(), uuid.NewString()
			if err := s.SetAuthor(ctx, "posts", "ev-name", gone, "leaving"); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
			want := map[string]string{} // post id -> image key
			for i := range 7 {
				p, err := s.Create(ctx, newPost(gone, at.Add(time.Duration(i)*time.Second), "tag"))
				if err != nil {
					t.Fatal(err)
				}
				want[p.ID] = p.ImageKey
			}
			var others []string
			for i := range 2 {
				p, err := s.Create(ctx, newPost(kept, at.Add(time.Duration(i)*time.Second), "tag"))
				if err != nil {
					t.Fatal(err)
				}
				others = append(others, p.ID)
			}

			const batch = 3
			n, done, err := s.purgeBatch(ctx, "posts", "ev-delete", gone, batch)
			if err != nil || n != batch || done {
				t.Fatalf("first batch = %d, done %v, %v; want %d, not done", n, done, err, batch)
			}
			// The event was not marked: the consumer redelivers it and the purge resumes.
			n, err = s.PurgeAuthor(ctx, "posts", "ev-delete", gone, batch)
			if err != nil || n != 4 {
				t.Fatalf("resumed purge deleted %d, %v; want the 4 left", n, err)
			}
			n, err = s.PurgeAuthor(ctx, "posts", "ev-delete", gone, batch)
			if err != nil || n != 0 {
				t.Fatalf("purge after completion deleted %d, %v; want 0", n, err)
			}

			got := map[string]string{}
			for _, e := range outboxEvents(t, db, postevents.TypeDeleted) {
				var d postevents.DeletedData
				if err := json.Unmarshal(e.Data, &d); err != nil {
					t.Fatal(err)
				}
				if _, dup := got[d.ID]; dup {
					t.Fatalf("post.deleted twice for %s", d.ID)
				}
				if d.UserID != gone || e.Key != d.ID {
					t.Fatalf("post.deleted %+v keyed %q", d, e.Key)
				}
				got[d.ID] = d.ImageKey
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("post.deleted events (-want +got):\n%s", diff)
			}
			left, err := s.List(ctx, post.ListQuery{UserID: gone, Limit: 100})
			if err != nil || len(left) != 0 {
				t.Fatalf("%d posts left, %v", len(left), err)
			}
			// A post by the purged author (a request in flight at the deletion) is refused,
			// so none outlives the purge; the locking that orders one in flight with the
			// purge is platform/tombstone's test.
			if _, err := s.Create(ctx, newPost(gone, at, "late")); !errors.Is(err, post.ErrAccountDeleted) {
				t.Fatalf("a post by the purged author = %v, want ErrAccountDeleted", err)
			}
			tags := count(t, db, `SELECT COUNT(*) FROM post_tags`)
			authors := count(t, db, `SELECT COUNT(*) FROM authors WHERE id = ?`, gone)
			marks := count(t, db, `SELECT COUNT(*) FROM processed_events WHERE consumer = 'posts' AND event_id = 'ev-delete'`)
			if tags != int64(len(others)) || authors != 0 || marks != 1 {
				t.Fatalf("tags = %d (want %d), author rows = %d, marks = %d", tags, len(others), authors, marks)
			}
			for _, id := range others {
				if _, err := s.ByID(ctx, id); err != nil {
					t.Fatalf("another author's post: %v", err)
				}
			}
		})
	}
}

// outboxEvents returns the envelopes of typ in the outbox, in order.
func outboxEvents(t *testing.T, db *gorm.DB, typ string) []events.Envelope {
	t.Helper()
	var payloads []string
	if err := db.Raw(`SELECT payload FROM outbox WHERE type = ? ORDER BY seq`, typ).Scan(&payloads).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]events.Envelope, len(payloads))
	for i, p := range payloads {
		if err := json.Unmarshal([]byte(p), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
