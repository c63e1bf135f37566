package tombstone_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/platform/tombstone"
)

func open(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "tombstone", tombstone.Migrations(1)); err != nil {
		t.Fatal(err)
	}
	return db
}

func guard(db *gorm.DB, refs ...tombstone.Ref) error {
	return db.Transaction(func(tx *gorm.DB) error { return tombstone.Guard(tx, refs...) })
}

// TestGuardRefusesWhatWasBuried, on both dialects: a write referring to a buried post or
// account is refused with the kind named; others pass; burying twice is harmless.
func TestGuardRefusesWhatWasBuried(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"postgres": testenv.Postgres, "sqlite": testenv.SQLite} {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			ctx := t.Context()
			post, user, other := tombstone.Post("p1"), tombstone.User("u1"), tombstone.Post("p2")
			if err := guard(db, post, user); err != nil {
				t.Fatalf("nothing buried: %v", err)
			}
			for range 2 {
				if err := tombstone.Bury(ctx, db, post); err != nil {
					t.Fatal(err)
				}
			}
			err := guard(db, user, post, post)
			if !tombstone.Gone(err, tombstone.KindPost) || tombstone.Gone(err, tombstone.KindUser) {
				t.Fatalf("guard after the post's burial = %v, want the post gone", err)
			}
			if err := guard(db, other, user); err != nil {
				t.Fatalf("unrelated refs: %v", err)
			}
			if err := tombstone.Bury(ctx, db, user); err != nil {
				t.Fatal(err)
			}
			if err := guard(db, other, user); !tombstone.Gone(err, tombstone.KindUser) {
				t.Fatalf("guard after the account's burial = %v", err)
			}
		})
	}
}

// TestBuryWaitsForWritesInFlight is the race the package exists for, on PostgreSQL: a
// write that passed Guard before the burial holds it until the write commits, so the
// purge after Bury sees the row; and a write whose Guard waits on a burial in progress
// sees the tombstone once it commits.
func TestBuryWaitsForWritesInFlight(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	ctx := t.Context()
	if err := db.Exec(`CREATE TABLE likes (post_id TEXT NOT NULL)`).Error; err != nil {
		t.Fatal(err)
	}

	// A like in flight: guarded, inserted, not committed yet.
	w := db.Begin()
	defer w.Rollback()
	if err := tombstone.Guard(w, tombstone.Post("p1"), tombstone.User("u1")); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(`INSERT INTO likes (post_id) VALUES ('p1')`).Error; err != nil {
		t.Fatal(err)
	}
	buried := make(chan error, 1)
	go func() { buried <- tombstone.Bury(ctx, db, tombstone.Post("p1")) }()
	waitForLockWaiter(t, db)
	select {
	case err := <-buried:
		t.Fatalf("Bury returned (%v) while a guarded write was open", err)
	default:
	}
	if err := w.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := receive(t, buried); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Raw(`SELECT count(*) FROM likes WHERE post_id = 'p1'`).Scan(&n).Error; err != nil || n != 1 {
		t.Fatalf("the purge after Bury sees %d likes (%v), want the committed one", n, err)
	}

	// A burial in progress (lock taken, tombstone not committed): a write's Guard waits
	// for it and then refuses.
	b := db.Begin()
	defer b.Rollback()
	if err := b.Exec(`SELECT pg_advisory_xact_lock(hashtextextended('post:p2', 0))`).Error; err != nil {
		t.Fatal(err)
	}
	guarded := make(chan error, 1)
	go func() { guarded <- guard(db, tombstone.Post("p2")) }()
	waitForLockWaiter(t, db)
	if err := b.Exec(`INSERT INTO tombstones (kind, id, deleted_at) VALUES ('post', 'p2', now())`).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := receive(t, guarded); !tombstone.Gone(err, tombstone.KindPost) {
		t.Fatalf("a write that waited on the burial = %v, want it refused", err)
	}
}

// waitForLockWaiter waits until a session waits for an advisory lock in this database
// (pg_locks), so
// the test goes on only once the other side is really blocked.
func waitForLockWaiter(t *testing.T, db *gorm.DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a guard against hanging, not a timing claim
	for {
		var n int64
		if err := db.Raw(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nobody waited for the advisory lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func receive(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatal("still blocked a minute after the other side committed")
		return nil
	}
}

// TestGuardQuotesWhatItIsGiven: refs reach PostgreSQL as array literals; ids that are not
// UUIDs (quotes, commas, braces, backslashes) must round-trip, not break the statement.
func TestGuardQuotesWhatItIsGiven(t *testing.T) {
	db := open(t, testenv.Postgres(t))
	odd := tombstone.Post(`a"b,c{d}\e f`)
	if err := guard(db, odd, tombstone.User("u")); err != nil {
		t.Fatal(err)
	}
	if err := tombstone.Bury(t.Context(), db, odd); err != nil {
		t.Fatal(err)
	}
	var g *tombstone.GoneError
	if err := guard(db, tombstone.User("u"), odd); !errors.As(err, &g) || g.Ref != odd {
		t.Fatalf("guard = %v, want %+v gone", err, odd)
	}
}

// TestPrune deletes the tombstones older than the cutoff and keeps the rest, on both
// dialects; what is pruned no longer refuses a write.
func TestPrune(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"postgres": testenv.Postgres, "sqlite": testenv.SQLite} {
		t.Run(name, func(t *testing.T) {
			db := open(t, dsn(t))
			ctx := t.Context()
			old, recent := tombstone.Post("old"), tombstone.Post("recent")
			for _, r := range []tombstone.Ref{old, recent} {
				if err := tombstone.Bury(ctx, db, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Exec(`UPDATE tombstones SET deleted_at = ? WHERE id = 'old'`, time.Now().UTC().Add(-40*24*time.Hour)).Error; err != nil {
				t.Fatal(err)
			}
			n, err := tombstone.Prune(db)(ctx, time.Now().Add(-30*24*time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("prune = %d, %v; want 1", n, err)
			}
			if err := guard(db, old); err != nil {
				t.Errorf("a pruned tombstone still refuses: %v", err)
			}
			if err := guard(db, recent); !tombstone.Gone(err, tombstone.KindPost) {
				t.Errorf("a recent tombstone was pruned: %v", err)
			}
		})
	}
}
