package likedb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/testenv"
	"instant/services/likes/internal/like"
)

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// likeAll makes each user like each post.
func likeAll(t *testing.T, s *Store, posts, users []string) {
	t.Helper()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range posts {
		for _, u := range users {
			if _, changed, err := s.Like(context.Background(), p, u, at); err != nil || !changed {
				t.Fatalf("like: %v, changed %v", err, changed)
			}
		}
	}
}

func newIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
	}
	return out
}

// summaries reads the counts of posts as the API does, for viewer.
func summaries(t *testing.T, s *Store, posts []string, viewer string) []like.Summary {
	t.Helper()
	got, err := s.Summaries(context.Background(), posts, viewer)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPurgeUser deletes an account's likes in batches, each with one like.deleted and
// one less on its post's count. The first run stops after one batch, as a crash would;
// the redelivered event finishes the purge without counting or emitting twice; a run
// after completion changes nothing.
func TestPurgeUser(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			ctx := context.Background()
			gone, kept := uuid.NewString(), uuid.NewString()
			posts := newIDs(7)
			likeAll(t, s, posts, []string{gone, kept})
			before := len(outbox(t, db))

			err := db.Transaction(func(tx *gorm.DB) error {
				n, done, err := s.purgeUserBatch(tx, gone, 3)
				if err == nil && (n != 3 || done) {
					t.Errorf("first batch = %d, done %v", n, done)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.PurgeUser(ctx, "likes", "ev", gone, 3); err != nil || n != 4 {
				t.Fatalf("resumed purge deleted %d, %v; want the 4 left", n, err)
			}
			if n, err := s.PurgeUser(ctx, "likes", "ev", gone, 3); err != nil || n != 0 {
				t.Fatalf("purge after completion deleted %d, %v", n, err)
			}

			var want []like.Summary
			for _, p := range posts {
				want = append(want, like.Summary{PostID: p, Count: 1})
			}
			if diff := cmp.Diff(want, summaries(t, s, posts, gone)); diff != "" {
				t.Fatalf("summaries for the deleted account (-want +got):\n%s", diff)
			}
			for _, sum := range summaries(t, s, posts, kept) {
				if !sum.LikedByMe {
					t.Fatalf("the other user's like of %s went too", sum.PostID)
				}
			}
			seen := map[string]bool{}
			for _, e := range outbox(t, db)[before:] {
				if e.Type != TypeDeleted || e.Data.UserID != gone || e.Key != e.Data.PostID || seen[e.Key] {
					t.Fatalf("unexpected or repeated event %+v", e)
				}
				seen[e.Key] = true
			}
			if len(seen) != len(posts) {
				t.Fatalf("%d like.deleted events, want %d", len(seen), len(posts))
			}
			if marks := count(t, db, `SELECT COUNT(*) FROM processed_events WHERE consumer = 'likes' AND event_id = 'ev'`); marks != 1 {
				t.Fatalf("%d processed marks, want 1", marks)
			}
		})
	}
}

// TestPurgePost deletes a deleted post's likes in batches, then its count, and records
// no event; a purge cut short by a crash is finished by the redelivered event.
func TestPurgePost(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			ctx := context.Background()
			post, other := uuid.NewString(), uuid.NewString()
			users := newIDs(7)
			likeAll(t, s, []string{post}, users)
			likeAll(t, s, []string{other}, users[:2])
			before := len(outbox(t, db))

			err := db.Transaction(func(tx *gorm.DB) error {
				n, done, err := s.purgePostBatch(tx, post, 3)
				if err == nil && (n != 3 || done) {
					t.Errorf("first batch = %d, done %v", n, done)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.PurgePost(ctx, "likes", "ev", post, 3); err != nil || n != 4 {
				t.Fatalf("resumed purge deleted %d, %v; want the 4 left", n, err)
			}
			if n, err := s.PurgePost(ctx, "likes", "ev", post, 3); err != nil || n != 0 {
				t.Fatalf("purge after completion deleted %d, %v", n, err)
			}
			if left := count(t, db, `SELECT COUNT(*) FROM likes WHERE post_id = ?`, post); left != 0 {
				t.Fatalf("%d likes of the post left", left)
			}
			if rows := count(t, db, `SELECT COUNT(*) FROM like_counts WHERE post_id = ?`, post); rows != 0 {
				t.Fatal("the post's count row is left")
			}
			if after := len(outbox(t, db)); after != before {
				t.Fatalf("the purge of a deleted post recorded %d events", after-before)
			}
			want := []like.Summary{{PostID: other, Count: 2, LikedByMe: true}}
			if diff := cmp.Diff(want, summaries(t, s, []string{other}, users[0])); diff != "" {
				t.Fatalf("the other post (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPurgeUserConcurrent purges accounts that liked the same posts at once: the
// counts of shared posts end exact (on PostgreSQL the count rows are locked in one
// order, so the purges queue instead of deadlocking).
func TestPurgeUserConcurrent(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			posts, users := newIDs(20), newIDs(4)
			likeAll(t, s, posts, users)
			errs := make(chan error, len(users)-1)
			for _, u := range users[1:] {
				go func() {
					_, err := s.PurgeUser(context.Background(), "likes", "ev-"+u, u, 5)
					errs <- err
				}()
			}
			for range users[1:] {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for _, sum := range summaries(t, s, posts, users[0]) {
				if sum.Count != 1 || !sum.LikedByMe {
					t.Fatalf("summary %+v after three of four likers left", sum)
				}
			}
		})
	}
}

// TestPurgePlans checks on PostgreSQL, with statistics over a few thousand likes, that
// a purge batch of a large account or post reads an index in the order it locks: an
// account's likes through likes_user, a post's through the primary key; never a
// sequential scan, and no sort of all their likes to pick a batch.
func TestPurgePlans(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	user, post := uuid.NewString(), uuid.NewString()
	err := db.Exec(`INSERT INTO likes (post_id, user_id, created_at)
		SELECT gen_random_uuid(), gen_random_uuid(), now() FROM generate_series(1, 3000)
		UNION ALL
		SELECT gen_random_uuid(), ?::uuid, now() FROM generate_series(1, 5000)
		UNION ALL
		SELECT ?::uuid, gen_random_uuid(), now() FROM generate_series(1, 5000)`, user, post).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`ANALYZE likes`).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ name, sql, index, arg string }{
		{"user_batch", sqlUserBatch, "likes_user", user},
		{"post_batch", sqlPostBatch, "likes_pkey", post},
	} {
		t.Run(q.name, func(t *testing.T) {
			plan := explain(t, db, q.sql, q.arg, 500)
			if !strings.Contains(plan, q.index) || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
				t.Fatalf("plan does not read %s in order:\n%s", q.index, plan)
			}
		})
	}
}

// TestPurgesShareLikes runs the purges of deleted posts and of a deleted account that
// liked them at once, as post.deleted and user.deleted arrive on different topics:
// neither fails or deadlocks, and every count left is exact.
func TestPurgesShareLikes(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			ctx := context.Background()
			user, posts, others := uuid.NewString(), newIDs(6), newIDs(8)
			likeAll(t, s, posts, append([]string{user}, others...))
			errs := make(chan error, len(posts)/2+1)
			go func() { _, err := s.PurgeUser(ctx, "likes", "ev-user", user, 2); errs <- err }()
			for _, p := range posts[:3] {
				go func() { _, err := s.PurgePost(ctx, "likes", "ev-"+p, p, 3); errs <- err }()
			}
			for range cap(errs) {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			want := []like.Summary{{PostID: posts[0]}, {PostID: posts[1]}, {PostID: posts[2]},
				{PostID: posts[3], Count: 8}, {PostID: posts[4], Count: 8}, {PostID: posts[5], Count: 8}}
			if diff := cmp.Diff(want, summaries(t, s, posts, user)); diff != "" {
				t.Fatalf("summaries (-want +got):\n%s", diff)
			}
			if left := count(t, db, `SELECT COUNT(*) FROM likes WHERE user_id = ?`, user); left != 0 {
				t.Fatalf("%d likes of the account left", left)
			}
		})
	}
}

// TestNoLikeOutlivesItsPurge: once a post's or an account's likes are purged, a like of
// that post, or by that account, is refused (a cache elsewhere may still believe the
// post exists, a request may have been in flight), so nothing is left behind. The
// locking that orders a like in flight with the purge is platform/tombstone's test.
func TestNoLikeOutlivesItsPurge(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "like.events", nil)
			ctx := context.Background()
			post, user, other := uuid.NewString(), uuid.NewString(), uuid.NewString()
			likeAll(t, s, []string{post}, []string{user})
			if _, err := s.PurgePost(ctx, "likes", uuid.NewString(), post, 10); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Like(ctx, post, other, time.Now()); !errors.Is(err, like.ErrPostNotFound) {
				t.Fatalf("like of a purged post = %v, want ErrPostNotFound", err)
			}
			if _, err := s.PurgeUser(ctx, "likes", uuid.NewString(), user, 10); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Like(ctx, uuid.NewString(), user, time.Now()); !errors.Is(err, like.ErrAccountDeleted) {
				t.Fatalf("like by a purged account = %v, want ErrAccountDeleted", err)
			}
			if n := count(t, db, `SELECT count(*) FROM likes WHERE post_id = ? OR user_id = ?`, post, user); n != 0 {
				t.Fatalf("%d likes left", n)
			}
			if _, _, err := s.Like(ctx, uuid.NewString(), other, time.Now()); err != nil {
				t.Fatalf("an unrelated like: %v", err)
			}
		})
	}
}
