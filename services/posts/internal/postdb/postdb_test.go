package postdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/posts/internal/post"
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
