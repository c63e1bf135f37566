package commentdb

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"instant/platform/events"
	"instant/platform/testenv"
	"instant/services/comments/internal/comment"
)

// seed creates n comments by user on post, a second apart, and returns their ids.
func seed(t *testing.T, s *Store, post, user string, n int) []string {
	t.Helper()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	for i := range n {
		c := comment.Comment{ID: uuid.NewString(), PostID: post, UserID: user, Body: "b",
			CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at}
		if err := s.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	return ids
}

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// deletedEvents returns the comment.deleted events in the outbox: comment id → data.
func deletedEvents(t *testing.T, db *gorm.DB) map[string]DeletedData {
	t.Helper()
	var rows []struct{ Key, Payload string }
	if err := db.Raw(`SELECT key, payload FROM outbox WHERE type = ? ORDER BY seq`, TypeDeleted).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]DeletedData{}
	for _, r := range rows {
		var e events.Envelope
		var d DeletedData
		if err := json.Unmarshal([]byte(r.Payload), &e); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[d.ID]; dup {
			t.Fatalf("comment.deleted twice for %s", d.ID)
		}
		if r.Key != d.PostID {
			t.Fatalf("comment.deleted keyed %q, want the post id %q", r.Key, d.PostID)
		}
		out[d.ID] = d
	}
	return out
}

// TestPurgeUser deletes an account's comments in batches, each with one comment.deleted.
// The first run stops after one batch, as a crash would; the redelivered event finishes
// the purge without repeating an event; a run after completion changes nothing.
func TestPurgeUser(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "comment.events", nil)
			ctx := context.Background()
			gone, kept := uuid.NewString(), uuid.NewString()
			postA, postB := uuid.NewString(), uuid.NewString()
			want := map[string]DeletedData{}
			for _, post := range []string{postA, postB} {
				for _, id := range seed(t, s, post, gone, 4) {
					want[id] = DeletedData{ID: id, PostID: post, UserID: gone}
				}
			}
			others := seed(t, s, postA, kept, 3)

			const batch = 3
			n, done, err := s.purgeBatch(ctx, "comments", "ev", sqlUserBatch, gone, batch, true)
			if err != nil || n != batch || done {
				t.Fatalf("first batch = %d, done %v, %v", n, done, err)
			}
			if n, err := s.PurgeUser(ctx, "comments", "ev", gone, batch); err != nil || n != 5 {
				t.Fatalf("resumed purge deleted %d, %v; want the 5 left", n, err)
			}
			if n, err := s.PurgeUser(ctx, "comments", "ev", gone, batch); err != nil || n != 0 {
				t.Fatalf("purge after completion deleted %d, %v", n, err)
			}
			if diff := cmp.Diff(want, deletedEvents(t, db)); diff != "" {
				t.Fatalf("comment.deleted events (-want +got):\n%s", diff)
			}
			if left := count(t, db, `SELECT COUNT(*) FROM comments WHERE user_id = ?`, gone); left != 0 {
				t.Fatalf("%d comments of the account left", left)
			}
			for _, id := range others {
				if _, err := s.Get(ctx, id); err != nil {
					t.Fatalf("another user's comment: %v", err)
				}
			}
			if marks := count(t, db, `SELECT COUNT(*) FROM processed_events WHERE consumer = 'comments' AND event_id = 'ev'`); marks != 1 {
				t.Fatalf("%d processed marks, want 1", marks)
			}
		})
	}
}

// TestPurgePost deletes a deleted post's comments in batches and records no event.
func TestPurgePost(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "comment.events", nil)
			ctx := context.Background()
			post, other := uuid.NewString(), uuid.NewString()
			seed(t, s, post, uuid.NewString(), 4)
			seed(t, s, post, uuid.NewString(), 3)
			kept := seed(t, s, other, uuid.NewString(), 2)
			before := count(t, db, `SELECT COUNT(*) FROM outbox`)

			if n, done, err := s.purgeBatch(ctx, "comments", "ev", sqlPostBatch, post, 3, false); err != nil || n != 3 || done {
				t.Fatalf("first batch = %d, done %v, %v", n, done, err)
			}
			if n, err := s.PurgePost(ctx, "comments", "ev", post, 3); err != nil || n != 4 {
				t.Fatalf("resumed purge deleted %d, %v; want the 4 left", n, err)
			}
			if n, err := s.PurgePost(ctx, "comments", "ev", post, 3); err != nil || n != 0 {
				t.Fatalf("purge after completion deleted %d, %v", n, err)
			}
			if left := count(t, db, `SELECT COUNT(*) FROM comments WHERE post_id = ?`, post); left != 0 {
				t.Fatalf("%d comments of the post left", left)
			}
			if after := count(t, db, `SELECT COUNT(*) FROM outbox`); after != before {
				t.Fatalf("the purge of a deleted post recorded %d events", after-before)
			}
			page, err := s.List(ctx, other, nil, 10)
			if err != nil || len(page) != len(kept) {
				t.Fatalf("the other post has %d comments, %v; want %d", len(page), err, len(kept))
			}
		})
	}
}

// TestPurgePlans checks on PostgreSQL, with statistics over a few thousand comments,
// that a purge batch reads its index: an account's comments through comments_user, a
// post's through comments_post_created, never a sequential scan.
func TestPurgePlans(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	user, post := uuid.NewString(), uuid.NewString()
	err := db.Exec(`INSERT INTO comments (id, post_id, user_id, body, created_at, updated_at)
		SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'b', now(), now() FROM generate_series(1, 3000)
		UNION ALL
		SELECT gen_random_uuid(), gen_random_uuid(), ?::uuid, 'mine', now(), now() FROM generate_series(1, 50)
		UNION ALL
		SELECT gen_random_uuid(), ?::uuid, gen_random_uuid(), 'busy', now() - g * interval '1 second', now() FROM generate_series(1, 500) g`,
		user, post).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`ANALYZE comments`).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ name, sql, index, arg string }{
		{"user_batch", sqlUserBatch, "comments_user", user},
		{"post_batch", sqlPostBatch, "comments_post_created", post},
	} {
		t.Run(q.name, func(t *testing.T) {
			plan := explain(t, db, q.sql, q.arg, 500)
			if !strings.Contains(plan, q.index) || strings.Contains(plan, "Seq Scan") {
				t.Fatalf("plan does not read %s:\n%s", q.index, plan)
			}
		})
	}
}

// TestPurgesShareComments runs the purge of a deleted account and of its own post at
// once, as its user.deleted and its posts' post.deleted arrive on different topics: the
// account's comments on that post are in both. Neither purge fails or deadlocks, every
// comment goes, and none is announced twice.
func TestPurgesShareComments(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "comment.events", nil)
			ctx := context.Background()
			user, post := uuid.NewString(), uuid.NewString()
			// Alternating authors, so each purge's batches interleave with the other's.
			for range 20 {
				seed(t, s, post, user, 1)
				seed(t, s, post, uuid.NewString(), 1)
			}
			seed(t, s, uuid.NewString(), user, 5)
			errs := make(chan error, 2)
			go func() { _, err := s.PurgePost(ctx, "comments", "ev-post", post, 4); errs <- err }()
			go func() { _, err := s.PurgeUser(ctx, "comments", "ev-user", user, 4); errs <- err }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if left := count(t, db, `SELECT COUNT(*) FROM comments WHERE post_id = ? OR user_id = ?`, post, user); left != 0 {
				t.Fatalf("%d comments left", left)
			}
			for _, d := range deletedEvents(t, db) { // fails on a repeated comment
				if d.UserID != user {
					t.Fatalf("comment.deleted for another user's comment %+v", d)
				}
			}
		})
	}
}

// TestNoCommentOutlivesItsPurge: once a post's or an account's comments are purged, a
// comment on that post, or by that account, is refused (a cache elsewhere may still
// believe the post exists, a request may have been in flight), so nothing is left
// behind. The locking that orders a write in flight with the purge is
// platform/tombstone's test.
func TestNoCommentOutlivesItsPurge(t *testing.T) {
	for name, dsn := range dialects() {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			s := New(db, "comment.events", nil)
			ctx := context.Background()
			post, user, other := uuid.NewString(), uuid.NewString(), uuid.NewString()
			seed(t, s, post, user, 2)
			at := time.Now().UTC()
			write := func(post, user string) error {
				return s.Create(ctx, comment.Comment{ID: uuid.NewString(), PostID: post, UserID: user, Body: "late",
					CreatedAt: at, UpdatedAt: at})
			}
			if _, err := s.PurgePost(ctx, "comments", uuid.NewString(), post, 10); err != nil {
				t.Fatal(err)
			}
			if err := write(post, other); !errors.Is(err, comment.ErrPostNotFound) {
				t.Fatalf("comment on a purged post = %v, want ErrPostNotFound", err)
			}
			if _, err := s.PurgeUser(ctx, "comments", uuid.NewString(), user, 10); err != nil {
				t.Fatal(err)
			}
			if err := write(uuid.NewString(), user); !errors.Is(err, comment.ErrAccountDeleted) {
				t.Fatalf("comment by a purged account = %v, want ErrAccountDeleted", err)
			}
			if n := count(t, db, `SELECT count(*) FROM comments WHERE post_id = ? OR user_id = ?`, post, user); n != 0 {
				t.Fatalf("%d comments left", n)
			}
			if err := write(uuid.NewString(), other); err != nil {
				t.Fatalf("an unrelated comment: %v", err)
			}
		})
	}
}
