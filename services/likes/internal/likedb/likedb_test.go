package likedb

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/likes/internal/like"
)

func open(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "likes", Migrations()); err != nil {
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

// outboxEvent is one outbox row, decoded.
type outboxEvent struct {
	Type string
	Key  string
	Data EventData
}

func outbox(t *testing.T, db *gorm.DB) []outboxEvent {
	t.Helper()
	var rows []struct{ Type, Key, Payload string }
	if err := db.Raw(`SELECT type, key, payload FROM outbox ORDER BY seq`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]outboxEvent, len(rows))
	for i, r := range rows {
		var e events.Envelope
		if err := json.Unmarshal([]byte(r.Payload), &e); err != nil {
			t.Fatal(err)
		}
		out[i] = outboxEvent{Type: r.Type, Key: r.Key}
		if err := json.Unmarshal(e.Data, &out[i].Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestStore checks like, unlike and their idempotent repeats, the events each records,
// likers paging across likes made in the same microsecond, and summaries.
func TestStore(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t))
			notified := 0
			s := New(db, "like.events", func() { notified++ })
			post, other := uuid.NewString(), uuid.NewString()
			at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)

			u := uuid.NewString()
			st, changed, err := s.Like(ctx, post, u, at)
			if err != nil || !changed || st != (like.State{PostID: post, Liked: true, Count: 1}) {
				t.Fatalf("first like = %+v, %v, %v", st, changed, err)
			}
			st, changed, err = s.Like(ctx, post, u, at.Add(time.Hour))
			if err != nil || changed || st.Count != 1 {
				t.Fatalf("repeated like = %+v, %v, %v", st, changed, err)
			}
			st, changed, err = s.Unlike(ctx, post, u)
			if err != nil || !changed || st != (like.State{PostID: post, Liked: false, Count: 0}) {
				t.Fatalf("unlike = %+v, %v, %v", st, changed, err)
			}
			st, changed, err = s.Unlike(ctx, post, u)
			if err != nil || changed || st.Count != 0 {
				t.Fatalf("repeated unlike = %+v, %v, %v", st, changed, err)
			}
			st, changed, err = s.Unlike(ctx, uuid.NewString(), u)
			if err != nil || changed || st.Count != 0 {
				t.Fatalf("unlike of a post nobody liked = %+v, %v, %v", st, changed, err)
			}
			want := []outboxEvent{
				{TypeCreated, post, EventData{PostID: post, UserID: u, CreatedAt: at}},
				{TypeDeleted, post, EventData{PostID: post, UserID: u, CreatedAt: at}},
			}
			if diff := cmp.Diff(want, outbox(t, db)); diff != "" {
				t.Fatalf("outbox (-want +got):\n%s", diff)
			}
			if notified != 2 {
				t.Fatalf("relay notified %d times for 2 changes", notified)
			}

			// Seven likers, four in the same microsecond, then fractions of differing
			// length; and a like of another post that must not show.
			var likers []like.Like
			for i := range 7 {
				created := at
				if i >= 4 {
					created = at.Add(time.Duration(i) * 1500 * time.Microsecond)
				}
				l := like.Like{PostID: post, UserID: uuid.NewString(), CreatedAt: created}
				if _, _, err := s.Like(ctx, post, l.UserID, created); err != nil {
					t.Fatal(err)
				}
				likers = append(likers, l)
			}
			fan := likers[0].UserID // likes both posts
			if _, _, err := s.Like(ctx, other, fan, at); err != nil {
				t.Fatal(err)
			}
			sortNewestFirst(likers)
			var got []like.Like
			var after *like.Cursor
			for {
				page, err := s.Likers(ctx, post, after, 3)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				last := page[len(page)-1]
				after = &like.Cursor{CreatedAt: last.CreatedAt, UserID: last.UserID}
			}
			if diff := cmp.Diff(likers, got); diff != "" {
				t.Fatalf("paged likers (-want +got):\n%s", diff)
			}

			nobody := uuid.NewString()
			sums, err := s.Summaries(ctx, []string{other, nobody, post, other}, fan)
			if err != nil {
				t.Fatal(err)
			}
			wantSums := []like.Summary{
				{PostID: other, Count: 1, LikedByMe: true},
				{PostID: nobody},
				{PostID: post, Count: 7, LikedByMe: true},
				{PostID: other, Count: 1, LikedByMe: true},
			}
			if diff := cmp.Diff(wantSums, sums); diff != "" {
				t.Fatalf("summaries (-want +got):\n%s", diff)
			}
			anon, err := s.Summaries(ctx, []string{post}, "")
			if err != nil || anon[0] != (like.Summary{PostID: post, Count: 7}) {
				t.Fatalf("anonymous summary = %+v, %v", anon, err)
			}
		})
	}
}

func sortNewestFirst(ls []like.Like) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0; j-- {
			a, b := ls[j-1], ls[j]
			if a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.UserID < b.UserID) {
				break
			}
			ls[j-1], ls[j] = b, a
		}
	}
}

// TestConcurrentLikes has 50 goroutines like and unlike one post at once, ten users
// each liked and unliked by several goroutines, repeats included. Afterwards the count
// must equal the rows, and the events must tell the same story: for each user,
// alternating created and deleted, ending in the state the table holds.
func TestConcurrentLikes(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			post := uuid.NewString()
			users := make([]string, 10)
			for i := range users {
				users[i] = uuid.NewString()
			}
			var wg sync.WaitGroup
			errs := make(chan error, 50*20)
			for g := range 50 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for range 20 {
						u := users[r.IntN(len(users))]
						var err error
						if r.IntN(3) > 0 { // more likes than unlikes, so the count ends above 0
							_, _, err = s.Like(ctx, post, u, time.Now().UTC().Truncate(time.Microsecond))
						} else {
							_, _, err = s.Unlike(ctx, post, u)
						}
						if err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var rows, count int64
			if err := db.Raw(`SELECT COUNT(*) FROM likes WHERE post_id = ?`, post).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Raw(`SELECT count FROM like_counts WHERE post_id = ?`, post).Scan(&count).Error; err != nil {
				t.Fatal(err)
			}
			if count != rows {
				t.Fatalf("like_counts says %d, the likes table holds %d", count, rows)
			}
			sums, err := s.Summaries(ctx, []string{post}, "")
			if err != nil || sums[0].Count != rows {
				t.Fatalf("summary = %+v, %v; want %d", sums, err, rows)
			}
			liked := map[string]bool{}
			for _, e := range outbox(t, db) {
				u := e.Data.UserID
				switch {
				case e.Type == TypeCreated && !liked[u]:
					liked[u] = true
				case e.Type == TypeDeleted && liked[u]:
					liked[u] = false
				default:
					t.Fatalf("%s for user %s out of turn: an idempotent repeat recorded an event", e.Type, u)
				}
			}
			var n int64
			for _, u := range users {
				var has int64
				db.Raw(`SELECT COUNT(*) FROM likes WHERE post_id = ? AND user_id = ?`, post, u).Scan(&has)
				if liked[u] != (has == 1) {
					t.Fatalf("events say user %s likes: %v; the table says %d rows", u, liked[u], has)
				}
				n += has
			}
			if n != rows {
				t.Fatalf("rows by user %d, total %d", n, rows)
			}
			t.Logf("%d likes after 1,000 concurrent likes and unlikes", rows)
		})
	}
}

// TestPlans checks on PostgreSQL, with realistic statistics and the planner free to
// choose, that the likers list reads likes_post_created in order (no sequential scan, no
// sort) and the summaries use the primary keys. The post asked about is a busy one,
// where a sort would hurt.
func TestPlans(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	post := uuid.NewString()
	// 2,000 likes of the busy post, 10 each of 200 others, spread over time.
	err := db.Exec(`INSERT INTO likes (post_id, user_id, created_at)
		SELECT p.id, gen_random_uuid(), now() - g * interval '1 second'
		FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 200)) p, generate_series(1, 10) g
		UNION ALL
		SELECT ?::uuid, gen_random_uuid(), now() - g * interval '1 second' FROM generate_series(1, 2000) g`, post).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`INSERT INTO like_counts (post_id, count) SELECT post_id, COUNT(*) FROM likes GROUP BY post_id`).Error; err != nil {
		t.Fatal(err)
	}
	// The counts of 20,000 more posts, so like_counts spans more than the page or two a
	// sequential scan reads as fast as an index.
	if err := db.Exec(`INSERT INTO like_counts (post_id, count) SELECT gen_random_uuid(), g % 50 FROM generate_series(1, 20000) g`).Error; err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"likes", "like_counts"} {
		if err := db.Exec(`ANALYZE ` + table).Error; err != nil {
			t.Fatal(err)
		}
	}
	var mid struct {
		UserID    string
		CreatedAt time.Time
	}
	if err := db.Raw(`SELECT user_id, created_at FROM likes WHERE post_id = ? ORDER BY created_at DESC, user_id OFFSET 20 LIMIT 1`, post).Scan(&mid).Error; err != nil {
		t.Fatal(err)
	}
	var some []string
	if err := db.Raw(`SELECT post_id FROM like_counts LIMIT 20`).Scan(&some).Error; err != nil {
		t.Fatal(err)
	}
	queries := []struct {
		name, sql, index string
		args             []any
	}{
		{"likers_first_page", sqlLikersFirst, "likes_post_created", []any{post, 21}},
		{"likers_after_cursor", sqlLikersAfter, "likes_post_created", []any{post, mid.CreatedAt, mid.CreatedAt, mid.UserID, 21}},
		{"summary_counts", sqlCounts, "like_counts_pkey", []any{some}},
		// (user_id, post_id) answers it as well as the primary key (post_id, user_id).
		{"summary_liked_by_viewer", sqlLikedAmong, "likes_pkey|likes_user", []any{uuid.NewString(), some}},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			plan := explain(t, db, q.sql, q.args...)
			t.Logf("plan:\n%s", plan)
			usesIndex := false
			for _, ix := range strings.Split(q.index, "|") {
				usesIndex = usesIndex || strings.Contains(plan, ix)
			}
			if !usesIndex ||
				!(strings.Contains(plan, "Index Scan") || strings.Contains(plan, "Index Only Scan") || strings.Contains(plan, "Bitmap Index Scan")) {
				t.Fatalf("plan does not use %s:\n%s", q.index, plan)
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
