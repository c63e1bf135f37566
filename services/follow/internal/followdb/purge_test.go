package followdb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"instant/services/follow/internal/follow"
)

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurgeUser removes a deleted account from the graph in batches: every follow it
// made and every follow of it, each with one follow.deleted and one less on the other
// user's counts, and nothing else. The first run stops after one batch, as a crash
// would; the redelivered event finishes the purge without counting or emitting twice; a
// run after completion changes nothing.
func TestPurgeUser(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db, _ := open(t, d)
			ctx := context.Background()
			gone := newID()
			a, b, c, e, f := newID(), newID(), newID(), newID(), newID()
			edges := [][2]string{
				{gone, a}, {gone, b}, {gone, c}, {gone, e}, // it follows four
				{e, gone}, {f, gone}, {a, gone}, // three follow it; a and e both ways
				{a, b}, {f, c}, // not its business
			}
			for i, ed := range edges {
				if added, _, err := s.Follow(ctx, ed[0], ed[1], at(i)); err != nil || !added {
					t.Fatalf("follow %v: %v", ed, err)
				}
			}
			before := len(outbox(t, db))

			err := db.Transaction(func(tx *gorm.DB) error {
				n, done, err := s.purgeBatch(tx, gone, 3)
				if err == nil && (n != 3 || done) {
					t.Errorf("first batch = %d, done %v", n, done)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.PurgeUser(ctx, "follow", "ev", gone, 3); err != nil || n != 4 {
				t.Fatalf("resumed purge removed %d, %v; want the 4 left", n, err)
			}
			if n, err := s.PurgeUser(ctx, "follow", "ev", gone, 3); err != nil || n != 0 {
				t.Fatalf("purge after completion removed %d, %v", n, err)
			}

			want := map[[2]string]bool{}
			for _, ed := range edges[:7] {
				want[ed] = true
			}
			got := map[[2]string]bool{}
			for i, ev := range outbox(t, db)[before:] {
				k := [2]string{ev.Data.FollowerID, ev.Data.FolloweeID}
				if ev.Type != "follow.deleted" || got[k] || !want[k] || !ev.Data.CreatedAt.Equal(at(indexOf(edges, k))) {
					t.Fatalf("event %d: %+v", i, ev)
				}
				got[k] = true
			}
			if len(got) != len(want) {
				t.Fatalf("%d follow.deleted events, want %d", len(got), len(want))
			}

			cs, err := s.Counts(ctx, []string{gone, a, b, c, e, f})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := []follow.Counts{
				{UserID: gone},
				{UserID: a, Following: 1},
				{UserID: b, Followers: 1},
				{UserID: c, Followers: 1},
				{UserID: e},
				{UserID: f, Following: 1},
			}
			if diff := cmp.Diff(wantCounts, cs); diff != "" {
				t.Fatalf("counts (-want +got):\n%s", diff)
			}
			if rows := count(t, db, `SELECT COUNT(*) FROM follow_counts WHERE user_id = ?`, gone); rows != 0 {
				t.Fatal("the account's counts row is left")
			}
			if left := count(t, db, `SELECT COUNT(*) FROM follows WHERE follower_id = ? OR followee_id = ?`, gone, gone); left != 0 {
				t.Fatalf("%d follows of the account left", left)
			}
			if marks := count(t, db, `SELECT COUNT(*) FROM processed_events WHERE consumer = 'follow' AND event_id = 'ev'`); marks != 1 {
				t.Fatalf("%d processed marks, want 1", marks)
			}
		})
	}
}

func indexOf(edges [][2]string, k [2]string) int {
	for i, e := range edges {
		if e == k {
			return i
		}
	}
	return -1
}

// TestPurgeUsersConcurrently purges two accounts that follow each other and share
// followers, at once: the counts end exact and neither purge deadlocks or fails.
func TestPurgeUsersConcurrently(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _, _ := open(t, d)
			ctx := context.Background()
			x, y := newID(), newID()
			fans := []string{newID(), newID(), newID(), newID(), newID()}
			i := 0
			follow := func(a, b string) {
				i++
				if _, _, err := s.Follow(ctx, a, b, at(i)); err != nil {
					t.Fatal(err)
				}
			}
			follow(x, y)
			follow(y, x)
			for _, fan := range fans {
				follow(fan, x)
				follow(fan, y)
				follow(x, fan)
			}
			errs := make(chan error, 2)
			for _, u := range []string{x, y} {
				go func() {
					_, err := s.PurgeUser(ctx, "follow", "ev-"+u, u, 2)
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			cs, err := s.Counts(ctx, fans)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.Followers != 0 || c.Following != 0 {
					t.Fatalf("counts %+v after both accounts left", c)
				}
			}
		})
	}
}

// TestPurgePlans checks on PostgreSQL that a purge batch reads an index on each side:
// the primary key for the follows an account made, follows_followers for its followers.
func TestPurgePlans(t *testing.T) {
	_, db, _ := open(t, "postgres")
	star := newID()
	var vals []string
	var args []any
	// 4,000 follows among others; the account follows 100 and has 100 followers.
	for i := range 4000 {
		vals = append(vals, "(?, ?, ?)")
		args = append(args, newID(), newID(), at(i))
	}
	for i := range 100 {
		vals = append(vals, "(?, ?, ?)", "(?, ?, ?)")
		args = append(args, newID(), star, at(i), star, newID(), at(i))
	}
	if err := db.Exec("INSERT INTO follows (follower_id, followee_id, created_at) VALUES "+strings.Join(vals, ","), args...).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("ANALYZE follows").Error; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql, index string }{
		{"following_batch", selectFollowingBatch, "follows_"},
		{"followers_batch", selectFollowersBatch, "follows_followers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			if err := db.Raw("EXPLAIN "+tc.sql, star, 500).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
				t.Fatalf("plan does not read %s:\n%s", tc.index, plan)
			}
		})
	}
}

// TestNoFollowOutlivesItsPurge: once an account's follows are purged, it neither follows
// (the acting account is gone: ErrAccountDeleted) nor is followed (ErrUserNotFound), so a
// follow accepted on the strength of a cached "this account exists" leaves nothing
// behind. The locking that orders a write in flight with the purge is
// platform/tombstone's test.
func TestNoFollowOutlivesItsPurge(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db, _ := open(t, d)
			ctx := context.Background()
			gone, a := newID(), newID()
			if _, _, err := s.Follow(ctx, a, gone, at(0)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PurgeUser(ctx, "follow", newID(), gone, 10); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Follow(ctx, a, gone, at(1)); !errors.Is(err, follow.ErrUserNotFound) {
				t.Fatalf("following a purged account = %v, want ErrUserNotFound", err)
			}
			if _, _, err := s.Follow(ctx, gone, a, at(2)); !errors.Is(err, follow.ErrAccountDeleted) {
				t.Fatalf("a purged account following = %v, want ErrAccountDeleted", err)
			}
			var n int64
			if err := db.Raw(`SELECT count(*) FROM follows WHERE follower_id = ? OR followee_id = ?`, gone, gone).Scan(&n).Error; err != nil || n != 0 {
				t.Fatalf("%d follows left (%v)", n, err)
			}
			if added, _, err := s.Follow(ctx, a, newID(), at(3)); err != nil || !added {
				t.Fatalf("an unrelated follow: %v", err)
			}
		})
	}
}
