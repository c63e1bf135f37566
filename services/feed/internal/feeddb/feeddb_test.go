package feeddb

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
	"instant/platform/tombstone"
	"instant/services/feed/internal/feed"
)

var dialects = []string{"postgres", "sqlite"}

// open returns a migrated store on a fresh database of the named dialect.
func open(t *testing.T, dialect string) (*Store, *gorm.DB) {
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
	if err := database.Migrate(ctx, db, "feed", Migrations()); err != nil {
		t.Fatal(err)
	}
	return New(db), db
}

func mark() feed.Mark { return feed.Mark{Consumer: "feed", EventID: uuid.NewString()} }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// twice applies an event, then again as a redelivery with the same id.
func twice(t *testing.T, apply func(feed.Mark) error) {
	t.Helper()
	m := mark()
	must(t, apply(m))
	must(t, apply(m))
}

func counts(t *testing.T, s *Store, viewer, post string) (likes, comments int64, liked bool) {
	t.Helper()
	items, err := s.Items(context.Background(), viewer, []string{post})
	must(t, err)
	it, ok := items[post]
	if !ok {
		t.Fatalf("post %s is not in the read model", post)
	}
	return it.LikeCount, it.CommentCount, it.LikedByMe
}

func stats(t *testing.T, s *Store, viewer, user string) feed.Stats {
	t.Helper()
	st, err := s.Stats(context.Background(), viewer, user)
	must(t, err)
	return st
}

func taskKinds(t *testing.T, s *Store) []feed.TaskKind {
	t.Helper()
	tasks, err := s.PendingTasks(context.Background(), 100)
	must(t, err)
	var out []feed.TaskKind
	for _, tk := range tasks {
		out = append(out, tk.Kind)
	}
	return out
}

// TestEventsApplyOnce applies each kind of event, each twice as a redelivery would, and
// in the awkward orders Kafka allows across topics (likes before their post, events
// after a deletion): counts are exact set sizes, deletions stay deleted.
func TestEventsApplyOnce(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _ := open(t, d)
			ctx := context.Background()
			alice, bob, carol := uuid.NewString(), uuid.NewString(), uuid.NewString()
			at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
			for _, u := range []feed.User{{ID: alice, Username: "alice", CreatedAt: at}, {ID: bob, Username: "bob", CreatedAt: at}, {ID: carol, Username: "carol", CreatedAt: at}} {
				twice(t, func(m feed.Mark) error { return s.SaveUser(ctx, m, u) })
			}
			twice(t, func(m feed.Mark) error {
				return s.SaveUser(ctx, m, feed.User{ID: alice, Username: "alice2", CreatedAt: at})
			})
			if u, err := s.UserByName(ctx, "alice2"); err != nil || u.ID != alice || !u.CreatedAt.Equal(at) {
				t.Fatalf("user by new name = %+v, %v", u, err)
			}
			if _, err := s.UserByName(ctx, "alice"); !errors.Is(err, feed.ErrUserNotFound) {
				t.Fatalf("old name still found: %v", err)
			}

			// A like and a comment arrive before their post.
			post := uuid.NewString()
			c1 := uuid.NewString()
			twice(t, func(m feed.Mark) error { return s.AddLike(ctx, m, post, carol) })
			twice(t, func(m feed.Mark) error { return s.AddComment(ctx, m, c1, post, carol) })
			p := feed.Post{ID: post, UserID: alice, Caption: "hi", ImageKey: "users/" + alice + "/a.jpg", CreatedAt: at}
			twice(t, func(m feed.Mark) error { return s.AddPost(ctx, m, p) })
			must(t, s.AddPost(ctx, mark(), p)) // the same post under another event id
			if l, c, _ := counts(t, s, bob, post); l != 1 || c != 1 {
				t.Fatalf("counts of a post whose like and comment came first = %d, %d", l, c)
			}
			if st := stats(t, s, bob, alice); st.Posts != 1 {
				t.Fatalf("post count = %d", st.Posts)
			}

			twice(t, func(m feed.Mark) error { return s.AddLike(ctx, m, post, bob) })
			must(t, s.AddLike(ctx, mark(), post, bob)) // the same like, another event
			c2 := uuid.NewString()
			twice(t, func(m feed.Mark) error { return s.AddComment(ctx, m, c2, post, bob) })
			if l, c, liked := counts(t, s, bob, post); l != 2 || c != 2 || !liked {
				t.Fatalf("counts = %d likes, %d comments, liked=%v; want 2, 2, true", l, c, liked)
			}
			twice(t, func(m feed.Mark) error { return s.RemoveLike(ctx, m, post, bob) })
			twice(t, func(m feed.Mark) error { return s.RemoveComment(ctx, m, c2, post) })
			if l, c, liked := counts(t, s, bob, post); l != 1 || c != 1 || liked {
				t.Fatalf("counts after removals = %d, %d, liked=%v", l, c, liked)
			}
			if _, _, liked := counts(t, s, carol, post); !liked {
				t.Fatal("carol's like is not hers")
			}

			twice(t, func(m feed.Mark) error { return s.AddFollow(ctx, m, bob, alice, at) })
			twice(t, func(m feed.Mark) error { return s.AddFollow(ctx, m, carol, alice, at) })
			twice(t, func(m feed.Mark) error { return s.AddFollow(ctx, m, alice, carol, at) })
			must(t, s.AddFollow(ctx, mark(), bob, bob, at)) // nobody follows themselves
			if diff := cmp.Diff(feed.Stats{Posts: 1, Followers: 2, Following: 1, FollowedByMe: true}, stats(t, s, bob, alice)); diff != "" {
				t.Fatalf("alice as bob sees her (-want +got):\n%s", diff)
			}
			if st := stats(t, s, bob, bob); st.Following != 1 || st.Followers != 0 {
				t.Fatalf("bob's own stats = %+v", st)
			}
			if celebs, err := s.FollowedCelebrities(ctx, bob, 1); err != nil || !cmp.Equal(celebs, []string{alice}) {
				t.Fatalf("celebrities bob follows above 1 = %v, %v", celebs, err)
			}
			if celebs, _ := s.FollowedCelebrities(ctx, bob, 2); len(celebs) != 0 {
				t.Fatalf("celebrities above 2 = %v", celebs)
			}
			twice(t, func(m feed.Mark) error { return s.RemoveFollow(ctx, m, bob, alice, 5000) })
			if st := stats(t, s, carol, alice); st.Followers != 1 || st.FollowedByMe != true {
				t.Fatalf("after bob unfollowed: %+v", st)
			}

			// Carol goes: her like, comment and follows leave the counts.
			twice(t, func(m feed.Mark) error { return s.DeleteUser(ctx, m, carol, 10, 5000) })
			if l, c, _ := counts(t, s, bob, post); l != 0 || c != 0 {
				t.Fatalf("counts after carol's deletion = %d, %d", l, c)
			}
			if st := stats(t, s, alice, alice); st.Followers != 0 || st.Following != 0 {
				t.Fatalf("alice's counts after carol's deletion = %+v", st)
			}
			must(t, s.AddLike(ctx, mark(), post, carol)) // late: carol is gone
			must(t, s.SaveUser(ctx, mark(), feed.User{ID: carol, Username: "carol", CreatedAt: at}))
			if _, err := s.UserByID(ctx, carol); !errors.Is(err, feed.ErrUserNotFound) {
				t.Fatalf("deleted user found: %v", err)
			}
			if l, _, _ := counts(t, s, bob, post); l != 0 {
				t.Fatal("a deleted user's late like counted")
			}

			twice(t, func(m feed.Mark) error { return s.DeletePost(ctx, m, post, alice) })
			if items, _ := s.Items(ctx, bob, []string{post}); len(items) != 0 {
				t.Fatal("deleted post still in the read model")
			}
			must(t, s.AddLike(ctx, mark(), post, bob))
			must(t, s.AddPost(ctx, mark(), p))
			if items, _ := s.Items(ctx, bob, []string{post}); len(items) != 0 {
				t.Fatal("a late post.created brought a deleted post back")
			}
			if st := stats(t, s, bob, alice); st.Posts != 0 {
				t.Fatalf("post count after deletion = %d", st.Posts)
			}

			want := []feed.TaskKind{feed.TaskFanOut, feed.TaskBackfill, feed.TaskBackfill, feed.TaskBackfill,
				feed.TaskUnfollow, feed.TaskPurgeUser, feed.TaskUnpost}
			if diff := cmp.Diff(want, taskKinds(t, s)); diff != "" {
				t.Fatalf("queued tasks (-want +got):\n%s", diff)
			}
			tasks, _ := s.PendingTasks(ctx, 100)
			purge := tasks[5]
			if purge.UserID != carol || !cmp.Equal(purge.Followers, []string{alice}) || len(purge.Posts) != 0 || purge.EventID == "" {
				t.Fatalf("purge task = %+v", purge)
			}
			seqs := make([]int64, len(tasks))
			for i, tk := range tasks {
				seqs[i] = tk.Seq
			}
			must(t, s.FinishTasks(ctx, seqs[:2]))
			if k := taskKinds(t, s); len(k) != len(tasks)-2 {
				t.Fatalf("tasks left after finishing two: %v", k)
			}
			must(t, s.FinishTasks(ctx, seqs[2:]))
			if k := taskKinds(t, s); len(k) != 0 {
				t.Fatalf("tasks left after finishing: %v", k)
			}
		})
	}
}

// TestDeleteUserKeepsTheirPostsForThePurge: the purge task names the newest posts of a
// deleted author (as many as asked) and their followers.
func TestDeleteUserKeepsTheirPostsForThePurge(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _ := open(t, d)
			ctx := context.Background()
			author, fan := uuid.NewString(), uuid.NewString()
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var posts []string
			for i := range 4 {
				id := uuid.NewString()
				posts = append([]string{id}, posts...)
				must(t, s.AddPost(ctx, mark(), feed.Post{ID: id, UserID: author, Caption: "c", ImageKey: "k" + id, CreatedAt: base.Add(time.Duration(i) * time.Minute)}))
			}
			must(t, s.AddFollow(ctx, mark(), fan, author, base))
			must(t, s.DeleteUser(ctx, mark(), author, 3, 5000))
			tasks, err := s.PendingTasks(ctx, 100)
			must(t, err)
			purge := tasks[len(tasks)-1]
			if purge.Kind != feed.TaskPurgeUser || !cmp.Equal(purge.Posts, posts[:3]) || !cmp.Equal(purge.Followers, []string{fan}) {
				t.Fatalf("purge task = %+v, want posts %v", purge, posts[:3])
			}
			if st := stats(t, s, fan, fan); st.Following != 0 {
				t.Fatalf("the follower still follows %d", st.Following)
			}
			if refs, _ := s.AuthorRefs(ctx, author, 10); len(refs) != 0 {
				t.Fatalf("deleted author's posts remain: %v", refs)
			}
		})
	}
}

// TestListsPage walks the list queries in pages on both dialects: newest first, ties on
// the millisecond broken by id, no repeats, no gaps.
func TestListsPage(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, _ := open(t, d)
			ctx := context.Background()
			viewer, a, b, stranger := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
			must(t, s.AddFollow(ctx, mark(), viewer, a, time.Now()))
			must(t, s.AddFollow(ctx, mark(), viewer, b, time.Now()))
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var network, all []feed.Ref
			for i := range 30 {
				author := []string{a, b, stranger, viewer}[i%4]
				// Three posts per millisecond.
				p := feed.Post{ID: uuid.NewString(), UserID: author, Caption: "c", ImageKey: "k", CreatedAt: base.Add(time.Duration(i/3) * time.Millisecond)}
				must(t, s.AddPost(ctx, mark(), p))
				all = append(all, p.Ref())
				if author != stranger {
					network = append(network, p.Ref())
				}
			}
			sortNewest(all)
			sortNewest(network)
			walk := func(list func(cur *feed.Ref, limit int) ([]feed.Ref, error)) []feed.Ref {
				var got []feed.Ref
				var cur *feed.Ref
				for {
					page, err := list(cur, 4)
					must(t, err)
					got = append(got, page...)
					if len(page) < 4 {
						return got
					}
					cur = &page[len(page)-1]
				}
			}
			itemRefs := func(items []feed.Item, err error) ([]feed.Ref, error) {
				out := make([]feed.Ref, len(items))
				for i, it := range items {
					out[i] = it.Ref
				}
				return out, err
			}
			for name, tc := range map[string]struct {
				list func(cur *feed.Ref, limit int) ([]feed.Ref, error)
				want []feed.Ref
			}{
				"network_refs": {func(cur *feed.Ref, n int) ([]feed.Ref, error) { return s.NetworkRefs(ctx, viewer, cur, n) }, network},
				"network_items": {func(cur *feed.Ref, n int) ([]feed.Ref, error) {
					return itemRefs(s.NetworkItems(ctx, viewer, cur, n))
				}, network},
				"recent_items": {func(cur *feed.Ref, n int) ([]feed.Ref, error) { return itemRefs(s.RecentItems(ctx, viewer, cur, n)) }, all},
				"authors_refs": {func(cur *feed.Ref, n int) ([]feed.Ref, error) {
					return s.AuthorsRefs(ctx, []string{a, b, viewer}, cur, n)
				}, network},
			} {
				t.Run(name, func(t *testing.T) {
					if diff := cmp.Diff(tc.want, walk(tc.list)); diff != "" {
						t.Fatalf("pages (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func sortNewest(refs []feed.Ref) {
	for i := range refs {
		for j := i + 1; j < len(refs); j++ {
			if refs[j].Newer(refs[i]) {
				refs[i], refs[j] = refs[j], refs[i]
			}
		}
	}
}

// TestListPlansUseIndexes runs EXPLAIN on PostgreSQL, with planner statistics over a few
// thousand posts and sequential scans allowed, for every list query: each must read an
// index and never scan a table; where a sort is needed (a few authors' posts merged), it
// is bounded by those authors' posts, never the table.
func TestListPlansUseIndexes(t *testing.T) {
	s, db := open(t, "postgres")
	// 5,000 users; a fifth of the 30,000 posts are one prolific author's (user 7), the
	// rest spread evenly; everyone follows 20 others and the first 40 accounts, three
	// of which are celebrities.
	const users, total = 5000, 30000
	userID := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }
	const uid = `('00000000-0000-4000-8000-' || lpad(to_hex(%s), 12, '0'))::uuid`
	must(t, db.Exec(`INSERT INTO post_views (id, user_id, caption, image_key, created_at, created_ms)
		SELECT gen_random_uuid(), `+fmt.Sprintf(uid, `CASE WHEN i % 5 = 0 THEN 7 ELSE i % ? END`)+`, 'c', 'k', now(), 1700000000000 + i
		FROM generate_series(1, ?) i`, users, total).Error)
	must(t, db.Exec(`INSERT INTO users (id, username, created_at, renamed_at)
		SELECT `+fmt.Sprintf(uid, "i")+`, 'u' || i, now(), now() FROM generate_series(0, ?) i`, users-1).Error)
	must(t, db.Exec(`INSERT INTO follows (follower_id, followee_id, created_at)
		SELECT DISTINCT `+fmt.Sprintf(uid, "a")+`, `+fmt.Sprintf(uid, "b")+`, now()
		FROM generate_series(0, ?) a, LATERAL (SELECT (a * 7 + k * 13) % ? AS b FROM generate_series(1, 20) k
			UNION SELECT k FROM generate_series(0, 39) k) o
		WHERE a <> b`, users-1, users).Error)
	must(t, db.Exec(`INSERT INTO user_stats (user_id, followers_count)
		SELECT followee_id, COUNT(*) * CASE WHEN followee_id IN (`+fmt.Sprintf(uid, "0")+`, `+fmt.Sprintf(uid, "1")+`, `+
		fmt.Sprintf(uid, "2")+`) THEN 100 ELSE 1 END FROM follows GROUP BY followee_id`).Error)
	must(t, db.Exec(`INSERT INTO post_likes (post_id, user_id) SELECT id, user_id FROM post_views`).Error)
	// What autovacuum does on a live table: statistics and the visibility map that makes
	// index-only scans worth it.
	must(t, db.Exec(`VACUUM ANALYZE`).Error)

	viewer := userID(100)
	var some []string
	must(t, db.Raw(`SELECT id FROM post_views ORDER BY created_ms DESC LIMIT 21`).Scan(&some).Error)
	cur := &feed.Ref{Ms: 1700000000000 + total/2, ID: some[0]}
	perAuthor := total / users
	// A viewer's network (~60 followees) holds a few hundred posts: a sort of those is
	// bounded by the network, far below the table.
	network := total / 20
	// For an author with a fifth of all posts, walking everyone's newest posts and
	// keeping theirs is as good as their own index: both read in order, no sort.
	prolific := []string{"post_views_user", "post_views_recent"}
	near := &feed.Ref{Ms: 1700000000000 + total - 40, ID: some[0]}
	for _, tc := range []struct {
		name    string
		q       query
		indexes []string // one of them must be read
		maxSort int      // rows a sort may take; 0: no sort
	}{
		{"profile_prolific_first_page", authorItemsQuery(viewer, userID(7), nil, 21), prolific, 0},
		{"profile_prolific_cursor", authorItemsQuery(viewer, userID(7), cur, 21), prolific, 0},
		{"profile_light", authorItemsQuery(viewer, userID(9), nil, 21), []string{"post_views_user"}, 2 * perAuthor},
		{"explore_first_page", recentItemsQuery(viewer, nil, 21), []string{"post_views_recent"}, 0},
		{"explore_cursor", recentItemsQuery(viewer, cur, 21), []string{"post_views_recent"}, 0},
		{"hydrate_page", byIDsQuery(viewer, some), []string{"post_views_pkey"}, 0},
		{"followed_celebrities", followedCelebritiesQuery(viewer, 5000), []string{"user_stats_followers", "follows_pkey", "follows_followee"}, 0},
		{"celebrity_merge", authorsRefsQuery([]string{userID(0), userID(1), userID(2)}, cur, 29),
			[]string{"post_views_user", "post_views_recent"}, 3 * perAuthor},
		{"fan_out_followers", followersQuery(userID(5), "", 1000), []string{"follows_followee"}, 0},
		{"fan_out_followers_next", followersQuery(userID(5), userID(50), 1000), []string{"follows_followee"}, 0},
		{"fallback_home_first_page", s.networkRefsQuery(viewer, nil, 21), []string{"post_views_user", "post_views_recent"}, network},
		{"fallback_home_next_page", s.networkRefsQuery(viewer, near, 21), []string{"post_views_user", "post_views_recent"}, network},
		{"fallback_home_deep_page", s.networkRefsQuery(viewer, cur, 21), []string{"post_views_user", "post_views_recent"}, network},
		{"rebuild", s.networkRefsQuery(viewer, nil, 800), []string{"post_views_user", "post_views_recent"}, network},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			must(t, db.Raw("EXPLAIN "+tc.q.sql, tc.q.args...).Scan(&lines).Error)
			plan := strings.Join(lines, "\n")
			usesIndex := false
			for _, ix := range tc.indexes {
				usesIndex = usesIndex || strings.Contains(plan, "Index Scan using "+ix+" ") ||
					strings.Contains(plan, "Index Only Scan using "+ix+" ") ||
					strings.Contains(plan, "Bitmap Index Scan on "+ix+" ") ||
					strings.Contains(plan, "Index Scan Backward using "+ix+" ") ||
					strings.Contains(plan, "Index Only Scan Backward using "+ix+" ")
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

// TestDemotionIsQueued: an account brought down to the celebrity threshold, by an
// unfollow or by a follower's deletion, gets TaskDemote in the same transaction; one that
// stays above it, or was below it already, gets none.
func TestDemotionIsQueued(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db := open(t, d)
			ctx := context.Background()
			at := time.Now()
			star, other := uuid.NewString(), uuid.NewString()
			fans := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
			for _, f := range fans {
				must(t, s.AddFollow(ctx, mark(), f, star, at))
			}
			must(t, s.AddFollow(ctx, mark(), fans[0], other, at))
			demotions := func() []string {
				t.Helper()
				tasks, err := s.PendingTasks(ctx, 100)
				must(t, err)
				var out []string
				for _, tk := range tasks {
					if tk.Kind == feed.TaskDemote {
						out = append(out, tk.UserID)
					}
				}
				must(t, db.Exec(`DELETE FROM timeline_tasks`).Error)
				return out
			}
			demotions()

			// Threshold 2: four followers, then three (still above), then two (down to it).
			must(t, s.RemoveFollow(ctx, mark(), fans[3], star, 2))
			if got := demotions(); len(got) != 0 {
				t.Fatalf("demoted at 3 followers of 2: %v", got)
			}
			// fans[2]'s account goes: star falls to 2, other (1 follower, never above) does not count.
			must(t, s.AddFollow(ctx, mark(), fans[2], other, at))
			demotions()
			must(t, s.DeleteUser(ctx, mark(), fans[2], 10, 2))
			if got := demotions(); !cmp.Equal(got, []string{star}) {
				t.Fatalf("demotions after the deletion = %v, want the star", got)
			}
			// Up again and down again by an unfollow.
			must(t, s.AddFollow(ctx, mark(), fans[3], star, at))
			must(t, s.RemoveFollow(ctx, mark(), fans[3], star, 2))
			if got := demotions(); !cmp.Equal(got, []string{star}) {
				t.Fatalf("demotions after the unfollow = %v, want the star", got)
			}
		})
	}
}

// TestTombstonesPrune: the read model's tombstones (UUID ids on PostgreSQL) are pruned by
// platform/tombstone's pruner, which feed runs with its processed-event marks.
func TestTombstonesPrune(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			s, db := open(t, d)
			ctx := context.Background()
			old, recent := uuid.NewString(), uuid.NewString()
			must(t, s.DeleteUser(ctx, mark(), old, 10, 5000))
			must(t, s.DeleteUser(ctx, mark(), recent, 10, 5000))
			must(t, db.Exec(`UPDATE tombstones SET deleted_at = ? WHERE id = ?`, time.Now().UTC().Add(-40*24*time.Hour), old).Error)
			n, err := tombstone.Prune(db)(ctx, time.Now().Add(-30*24*time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("prune = %d, %v; want 1", n, err)
			}
			var left []string
			must(t, db.Raw(`SELECT id FROM tombstones`).Scan(&left).Error)
			if len(left) != 1 || left[0] != recent {
				t.Fatalf("tombstones left: %v, want %s", left, recent)
			}
		})
	}
}
