package commentdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/comments/internal/comment"
)

func open(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "comments", Migrations()); err != nil {
		t.Fatal(err)
	}
	return db
}

func dialects() map[string]func(*testing.T) string {
	return map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
		"sqlite":   func(t *testing.T) string { return testenv.SQLite(t) },
	}
}

// TestStore checks what the route tests cannot arrange: comments created in the same
// microsecond page by id without repeats or gaps, and the author guard in SetBody.
func TestStore(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t))
			notified := 0
			s := New(db, "comment.events", func() { notified++ })
			post, user := uuid.NewString(), uuid.NewString()
			at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
			var want []comment.Comment
			for i := range 7 {
				created := at
				if i >= 4 {
					created = at.Add(time.Duration(i) * 1500 * time.Microsecond) // fractions of differing length
				}
				c := comment.Comment{ID: uuid.NewString(), PostID: post, UserID: user, Body: "b", CreatedAt: created, UpdatedAt: created}
				if err := s.Create(ctx, c); err != nil {
					t.Fatal(err)
				}
				want = append(want, c)
			}
			// Other posts' comments never leak into the list.
			if err := s.Create(ctx, comment.Comment{ID: uuid.NewString(), PostID: uuid.NewString(), UserID: user, Body: "x", CreatedAt: at, UpdatedAt: at}); err != nil {
				t.Fatal(err)
			}
			if notified != 8 {
				t.Fatalf("relay notified %d times for 8 commits", notified)
			}
			// Expected order: created_at, then id.
			sortComments(want)
			var got []comment.Comment
			var after *comment.Cursor
			for {
				page, err := s.List(ctx, post, after, 3)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				last := page[len(page)-1]
				after = &comment.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("paged list (-want +got):\n%s", diff)
			}

			c := want[0]
			if _, err := s.SetBody(ctx, c.ID, uuid.NewString(), "hijack", at); !errors.Is(err, comment.ErrNotFound) {
				t.Fatalf("SetBody by another user: err = %v, want ErrNotFound", err)
			}
			later := at.Add(time.Hour)
			upd, err := s.SetBody(ctx, c.ID, user, "edited", later)
			if err != nil || upd.Body != "edited" || !upd.UpdatedAt.Equal(later) || !upd.CreatedAt.Equal(c.CreatedAt) {
				t.Fatalf("SetBody = %+v, %v", upd, err)
			}
			if err := s.Delete(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, c); !errors.Is(err, comment.ErrNotFound) {
				t.Fatalf("second delete: err = %v, want ErrNotFound", err)
			}
			if _, err := s.Get(ctx, c.ID); !errors.Is(err, comment.ErrNotFound) {
				t.Fatalf("get deleted: err = %v", err)
			}
			var outbox []struct{ Type, Key string }
			if err := db.Raw(`SELECT type, key FROM outbox ORDER BY seq`).Scan(&outbox).Error; err != nil {
				t.Fatal(err)
			}
			if len(outbox) != 9 || outbox[8].Type != TypeDeleted || outbox[8].Key != post {
				t.Fatalf("outbox = %+v, want 8 created and 1 deleted keyed by post", outbox)
			}
		})
	}
}

func sortComments(cs []comment.Comment) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0; j-- {
			a, b := cs[j-1], cs[j]
			if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
				break
			}
			cs[j-1], cs[j] = b, a
		}
	}
}

// TestListPlan checks on PostgreSQL, with realistic statistics and the planner free to
// choose, that both list queries read comments_post_created in order: no sequential scan,
// no sort. The post asked about is a busy one, where a sort would hurt: for a post with a
// handful of comments the planner may rightly sort them after a bitmap scan of the same
// index, which costs nothing.
func TestListPlan(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	post := uuid.NewString()
	// 2,000 comments on the busy post, 10 each on 200 others, spread over time.
	err := db.Exec(`INSERT INTO comments (id, post_id, user_id, body, created_at, updated_at)
		SELECT gen_random_uuid(), p.id, gen_random_uuid(), 'body ' || g,
		       now() - g * interval '1 second', now() - g * interval '1 second'
		FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 200)) p, generate_series(1, 10) g
		UNION ALL
		SELECT gen_random_uuid(), ?::uuid, gen_random_uuid(), 'busy ' || g,
		       now() - g * interval '1 second', now() - g * interval '1 second'
		FROM generate_series(1, 2000) g`, post).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`ANALYZE comments`).Error; err != nil {
		t.Fatal(err)
	}
	var mid struct {
		ID        string
		CreatedAt time.Time
	}
	if err := db.Raw(`SELECT id, created_at FROM comments WHERE post_id = ? ORDER BY created_at, id OFFSET 20 LIMIT 1`, post).Scan(&mid).Error; err != nil {
		t.Fatal(err)
	}
	queries := []struct {
		name string
		sql  string
		args []any
	}{
		{"first_page", sqlListFirst, []any{post, 21}},
		{"after_cursor", sqlListAfter, []any{post, mid.CreatedAt, mid.ID, 21}},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			plan := explain(t, db, q.sql, q.args...)
			t.Logf("plan:\n%s", plan)
			if !strings.Contains(plan, "comments_post_created") ||
				!(strings.Contains(plan, "Index Scan") || strings.Contains(plan, "Index Only Scan") || strings.Contains(plan, "Bitmap Index Scan")) {
				t.Fatalf("plan does not use comments_post_created:\n%s", plan)
			}
			if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
				t.Fatalf("plan scans or sorts the table:\n%s", plan)
			}
		})
	}
}

// explain returns PostgreSQL's plan for query with its arguments bound, as the store
// runs it.
func explain(t *testing.T, db *gorm.DB, query string, args ...any) string {
	t.Helper()
	var lines []string
	if err := db.Raw("EXPLAIN "+query, args...).Scan(&lines).Error; err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
