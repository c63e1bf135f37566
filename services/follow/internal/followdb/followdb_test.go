package followdb

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/follow/internal/follow"
)

const topic = "follow.events"

var dialects = []string{"postgres", "sqlite"}

// open returns a migrated store on a fresh database of the named dialect, and how many
// times it notified the relay.
func open(t *testing.T, dialect string) (*Store, *gorm.DB, *atomic.Int64) {
	t.Helper()
	var dsn string
	if dialect == "postgres" {
		dsn = testenv.Postgres(t)
	} else {
		dsn = testenv.SQLite(t)
	}
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "follow", Migrations()); err != nil {
		t.Fatal(err)
	}
	notified := new(atomic.Int64)
	return New(db, topic, func() { notified.Add(1) }), db, notified
}

func newID() string { return uuid.NewString() }

type outboxEvent struct {
	Type string
	Key  string
	Data struct {
		FollowerID string    `json:"follower_id"`
		FolloweeID string    `json:"followee_id"`
		CreatedAt  time.Time `json:"created_at"`
	}
}

// outbox returns the enqueued events in order.
func outbox(t *testing.T, db *gorm.DB) []outboxEvent {
	t.Helper()
	var rows []struct {
		Topic   string
		Key     string
		Payload string
	}
	if err := db.Raw("SELECT topic, key, payload FROM outbox ORDER BY seq").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]outboxEvent, 0, len(rows))
	for _, r := range rows {
		var e outboxEvent
		if err := json.Unmarshal([]byte(r.Payload), &e); err != nil {
			t.Fatal(err)
		}
		if r.Topic != topic || r.Key != e.Key || e.Key != e.Data.FollowerID {
			t.Fatalf("event %s on topic %q with key %q, want %q keyed by the follower %q", e.Type, r.Topic, r.Key, topic, e.Data.FollowerID)
		}
		out = append(out, e)
	}
	return out
}

func at(sec int) time.Time {
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(sec) * time.Second)
}

func TestFollowUnfollow(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db, notified := open(t, d)
			ctx := context.Background()
			a, b := newID(), newID()
			began := at(0).Add(123456 * time.Microsecond)

			added, c, err := s.Follow(ctx, a, b, began)
			if err != nil || !added {
				t.Fatalf("first follow: added=%v err=%v", added, err)
			}
			if diff := cmp.Diff(follow.Counts{UserID: b, Followers: 1}, c); diff != "" {
				t.Fatalf("counts after follow (-want +got):\n%s", diff)
			}
			added, c, err = s.Follow(ctx, a, b, at(10))
			if err != nil || added || c.Followers != 1 {
				t.Fatalf("second follow: added=%v counts=%+v err=%v", added, c, err)
			}
			cs, err := s.Counts(ctx, []string{a, b, newID()})
			if err != nil {
				t.Fatal(err)
			}
			if cs[0].Following != 1 || cs[0].Followers != 0 || cs[1].Followers != 1 || cs[2].Followers != 0 || cs[2].Following != 0 {
				t.Fatalf("counts = %+v", cs)
			}
			ab, ba, err := s.Relation(ctx, a, b)
			if err != nil || !ab || ba {
				t.Fatalf("relation(a, b) = %v, %v, %v", ab, ba, err)
			}
			ba2, ab2, err := s.Relation(ctx, b, a)
			if err != nil || ba2 || !ab2 {
				t.Fatalf("relation(b, a) = %v, %v, %v", ba2, ab2, err)
			}

			removed, c, err := s.Unfollow(ctx, a, b)
			if err != nil || !removed || c.Followers != 0 {
				t.Fatalf("unfollow: removed=%v counts=%+v err=%v", removed, c, err)
			}
			removed, _, err = s.Unfollow(ctx, a, b)
			if err != nil || removed {
				t.Fatalf("second unfollow: removed=%v err=%v", removed, err)
			}
			cs, _ = s.Counts(ctx, []string{a, b})
			if cs[0].Following != 0 || cs[1].Followers != 0 {
				t.Fatalf("counts after unfollow = %+v", cs)
			}

			evs := outbox(t, db)
			if len(evs) != 2 || evs[0].Type != "follow.created" || evs[1].Type != "follow.deleted" {
				t.Fatalf("events = %+v, want one created and one deleted", evs)
			}
			for _, e := range evs {
				if e.Data.FollowerID != a || e.Data.FolloweeID != b || !e.Data.CreatedAt.Equal(began) {
					t.Fatalf("event data = %+v", e.Data)
				}
			}
			if n := notified.Load(); n != 2 {
				t.Fatalf("relay notified %d times, want 2 (once per real change)", n)
			}
		})
	}
}

func TestSelfFollowRefusedByTheSchema(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _, _ := open(t, d)
			a := newID()
			if _, _, err := s.Follow(context.Background(), a, a, at(0)); err == nil {
				t.Fatal("the store let a user follow themselves")
			}
		})
	}
}

// TestLists walks both lists in pages: newest first, ties on the time broken by id,
// every edge once.
func TestLists(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _, _ := open(t, d)
			ctx := context.Background()
			star := newID()
			var want []follow.Edge // newest first
			for i := range 25 {
				f := newID()
				// Pairs share a timestamp, so the id must order them.
				when := at(i / 2)
				if _, _, err := s.Follow(ctx, f, star, when); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.Follow(ctx, star, f, when); err != nil {
					t.Fatal(err)
				}
				want = append(want, follow.Edge{UserID: f, FollowedAt: when})
			}
			sortNewestFirst(want)
			for name, list := range map[string]func(context.Context, string, *follow.Cursor, int) ([]follow.Edge, error){
				"followers": s.Followers, "following": s.Following,
			} {
				t.Run(name, func(t *testing.T) {
					var got []follow.Edge
					var after *follow.Cursor
					for range 100 {
						page, err := list(ctx, star, after, 4)
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, page...)
						if len(page) < 4 {
							break
						}
						last := page[len(page)-1]
						after = &follow.Cursor{At: last.FollowedAt, UserID: last.UserID}
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("%s (-want +got):\n%s", name, diff)
					}
				})
			}
		})
	}
}

func sortNewestFirst(es []follow.Edge) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && newer(es[j], es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func newer(a, b follow.Edge) bool {
	if !a.FollowedAt.Equal(b.FollowedAt) {
		return a.FollowedAt.After(b.FollowedAt)
	}
	return a.UserID > b.UserID
}

// TestConcurrentCountsStayExact has 50 goroutines follow and unfollow one user at once,
// each pair racing against itself too, plus follows in both directions between the
// racers (A follows B while B follows A). The counts must equal COUNT(*) of the graph,
// and the events must tell exactly the changes that happened.
func TestConcurrentCountsStayExact(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db, _ := open(t, d)
			ctx := context.Background()
			star := newID()
			users := make([]string, 50)
			for i := range users {
				users[i] = newID()
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(users)*2)
			for i, u := range users {
				for range 2 { // two goroutines per user: the same edge raced by itself
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(i), uint64(len(u))))
						for range 12 {
							var err error
							switch r.IntN(4) {
							case 0, 1:
								_, _, err = s.Follow(ctx, u, star, time.Now().UTC().Truncate(time.Microsecond))
							case 2:
								_, _, err = s.Unfollow(ctx, u, star)
							case 3:
								other := users[r.IntN(len(users))]
								if other != u {
									_, _, err = s.Follow(ctx, u, other, time.Now().UTC().Truncate(time.Microsecond))
								}
							}
							if err != nil {
								errs <- err
								return
							}
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("concurrent change failed: %v", err)
			}

			var mismatched []string
			err := db.Raw(`SELECT c.user_id FROM follow_counts c
				WHERE c.followers <> (SELECT COUNT(*) FROM follows f WHERE f.followee_id = c.user_id)
				   OR c.following <> (SELECT COUNT(*) FROM follows f WHERE f.follower_id = c.user_id)`).Scan(&mismatched).Error
			if err != nil {
				t.Fatal(err)
			}
			if len(mismatched) > 0 {
				t.Fatalf("counts differ from COUNT(*) for %d users", len(mismatched))
			}
			var missing int64
			if err := db.Raw(`SELECT COUNT(*) FROM follows f WHERE NOT EXISTS
				(SELECT 1 FROM follow_counts c WHERE c.user_id = f.followee_id AND c.followers > 0)`).Scan(&missing).Error; err != nil {
				t.Fatal(err)
			}
			if missing > 0 {
				t.Fatalf("%d follows have no counts row", missing)
			}

			// Replaying the events per edge must end in the graph as it is, with created
			// and deleted strictly alternating: no event for a change that did not happen.
			state := map[string]bool{}
			for _, e := range outbox(t, db) {
				k := e.Data.FollowerID + ">" + e.Data.FolloweeID
				switch e.Type {
				case "follow.created":
					if state[k] {
						t.Fatalf("follow.created twice in a row for %s", k)
					}
					state[k] = true
				case "follow.deleted":
					if !state[k] {
						t.Fatalf("follow.deleted without a follow for %s", k)
					}
					state[k] = false
				}
			}
			var edges []struct{ FollowerID, FolloweeID string }
			if err := db.Raw(`SELECT follower_id, followee_id FROM follows`).Scan(&edges).Error; err != nil {
				t.Fatal(err)
			}
			live := 0
			for _, v := range state {
				if v {
					live++
				}
			}
			if live != len(edges) {
				t.Fatalf("events leave %d follows, the table holds %d", live, len(edges))
			}
			for _, e := range edges {
				if !state[e.FollowerID+">"+e.FolloweeID] {
					t.Fatalf("follow %s>%s has no follow.created", e.FollowerID, e.FolloweeID)
				}
			}
		})
	}
}

// TestListQueriesUseTheIndexes checks on PostgreSQL, with the planner free to choose,
// that a page of either list is an index range scan with no sort over the user's rows.
func TestListQueriesUseTheIndexes(t *testing.T) {
	s, db, _ := open(t, "postgres")
	ctx := context.Background()
	stars := []string{newID(), newID(), newID()}
	var vals []string
	var args []any
	for i := range 600 {
		f := newID()
		vals = append(vals, "(?, ?, ?)")
		args = append(args, f, stars[i%3], at(i))
		vals = append(vals, "(?, ?, ?)")
		args = append(args, stars[i%3], f, at(i))
	}
	if err := db.Exec("INSERT INTO follows (follower_id, followee_id, created_at) VALUES "+strings.Join(vals, ","), args...).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("ANALYZE follows").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Followers(ctx, stars[0], nil, 5); err != nil {
		t.Fatal(err)
	}
	cursor := []any{at(300), newID()}
	cases := []struct {
		name, sql string
		args      []any
		index     string
	}{
		{"followers_first_page", selectFollowers, []any{stars[0], 21}, "follows_followers"},
		{"followers_after_cursor", selectFollowersAfter, append([]any{stars[0]}, append(cursor, 21)...), "follows_followers"},
		{"following_first_page", selectFollowing, []any{stars[1], 21}, "follows_following"},
		{"following_after_cursor", selectFollowingAfter, append([]any{stars[1]}, append(cursor, 21)...), "follows_following"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			if err := db.Raw("EXPLAIN "+tc.sql, tc.args...).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			t.Logf("plan:\n%s", plan)
			if !strings.Contains(plan, "Index Scan using "+tc.index) && !strings.Contains(plan, "Index Only Scan using "+tc.index) {
				t.Fatalf("plan does not scan %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
				t.Fatalf("plan sorts or scans the table:\n%s", plan)
			}
			// The cursor must bound the scan inside the index, not filter rows after it.
			if strings.Contains(tc.name, "cursor") && strings.Contains(plan, "Filter:") {
				t.Fatalf("cursor applied as a filter:\n%s", plan)
			}
		})
	}
}
