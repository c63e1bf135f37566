// Package tombstone closes the gap between a deletion and the writes that refer to what
// was deleted.
//
// A service learns that a post or an account is gone from an event, and purges the rows
// that refer to it. A write that began before it heard — a like accepted on the strength
// of a cached "this post exists", a request in flight when the account went — could
// still commit after the purge has run, and its row would outlive what it refers to.
// Two things close that:
//
//   - Bury records a tombstone for the deleted thing before the purge starts, and Guard,
//     inside every write that refers to something deletable, refuses the write when a
//     tombstone is there.
//   - On PostgreSQL, Guard holds a shared advisory lock on each thing the write refers
//     to until the write's transaction ends, and Bury takes the same lock exclusively
//     to write the tombstone. So Bury waits for every write that is checking or about to
//     commit, and a write that starts after Bury committed sees the tombstone: when Bury
//     returns, every write that got past Guard has committed, and the purge that follows
//     (in later transactions, under READ COMMITTED) sees its rows. SQLite runs one
//     writer at a time, which gives the same order without locks.
//
// Guard takes its locks in one global order and Bury holds a single lock while it waits
// for nothing else, so the locks cannot deadlock. Tombstones are small (a kind and an
// id), kept as long as the service's processed-event marks (Prune), so a redelivered
// deletion event finds its tombstone already there.
package tombstone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
)

// Kinds of things a tombstone can mark.
const (
	KindPost = "post"
	KindUser = "user"
)

// Ref names one thing a write refers to.
type Ref struct {
	Kind string
	ID   string
}

// Post refers to a post.
func Post(id string) Ref { return Ref{Kind: KindPost, ID: id} }

// User refers to an account.
func User(id string) Ref { return Ref{Kind: KindUser, ID: id} }

func (r Ref) key() string { return r.Kind + ":" + r.ID }

// GoneError is Guard's answer when a write refers to something deleted.
type GoneError struct{ Ref Ref }

func (e *GoneError) Error() string { return e.Ref.Kind + " " + e.Ref.ID + " was deleted" }

// Gone reports whether err is Guard's refusal for a thing of the kind, and which.
func Gone(err error, kind string) bool {
	var g *GoneError
	return errors.As(err, &g) && g.Ref.Kind == kind
}

// Migrations create the tombstones table at version (pick one far from the service's own
// migrations, as with the outbox's), and on PostgreSQL the function Guard calls.
//
// tombstone_guard takes the shared locks in the order given and only then looks for
// tombstones. It is VOLATILE, so under READ COMMITTED its query takes a snapshot of its
// own after the locks: it sees a tombstone committed while it waited. One call, one
// round trip, instead of a locking statement and a query.
func Migrations(version int) []database.Migration {
	return []database.Migration{{
		Version: version,
		Name:    "tombstones",
		Postgres: `CREATE TABLE tombstones (
			kind       TEXT NOT NULL,
			id         TEXT NOT NULL,
			deleted_at TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (kind, id)
		);
		CREATE FUNCTION tombstone_guard(kinds TEXT[], ids TEXT[]) RETURNS TABLE (kind TEXT, id TEXT)
		LANGUAGE plpgsql VOLATILE AS $$
		BEGIN
			FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
				PERFORM pg_advisory_xact_lock_shared(hashtextextended(kinds[i] || ':' || ids[i], 0));
			END LOOP;
			RETURN QUERY SELECT t.kind, t.id FROM tombstones t
				JOIN unnest(kinds, ids) AS r (kind, id) ON t.kind = r.kind AND t.id = r.id;
		END
		$$;`,
		SQLite: `CREATE TABLE tombstones (
			kind       TEXT NOT NULL,
			id         TEXT NOT NULL,
			deleted_at DATETIME NOT NULL,
			PRIMARY KEY (kind, id)
		);`,
	}}
}

// The locks are transaction-scoped advisory locks on a 64-bit hash of "kind:id": two
// keys that collide only make a writer wait for an unrelated deletion.
const lockExclusive = `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`

// Guard runs first in a write's transaction tx: it locks refs against a concurrent Bury
// and returns a *GoneError when any of them has a tombstone. The check comes after the
// locks, so it sees a tombstone committed while it waited.
func Guard(tx *gorm.DB, refs ...Ref) error {
	if len(refs) == 0 {
		return nil
	}
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(a, b Ref) int { return strings.Compare(a.key(), b.key()) })
	sorted = slices.Compact(sorted)
	kinds, ids := make([]string, len(sorted)), make([]string, len(sorted))
	for i, r := range sorted {
		kinds[i], ids[i] = r.Kind, r.ID
	}
	var gone []Ref
	var err error
	if database.Dialect(tx) == database.Postgres {
		// The locks in key order: one global order, so guards cannot deadlock each other.
		err = tx.Raw(`SELECT kind, id FROM tombstone_guard(?::text[], ?::text[])`,
			pgArray(kinds), pgArray(ids)).Scan(&gone).Error
	} else {
		q, args := "", []any{}
		for i, r := range sorted {
			if i > 0 {
				q += " OR "
			}
			q += "(kind = ? AND id = ?)"
			args = append(args, r.Kind, r.ID)
		}
		err = tx.Raw(`SELECT kind, id FROM tombstones WHERE `+q, args...).Scan(&gone).Error
	}
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	if len(gone) > 0 {
		return &GoneError{Ref: gone[0]}
	}
	return nil
}

// pgArray writes a PostgreSQL text array literal: every element quoted, quotes and
// backslashes escaped.
func pgArray(vs []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, c := range v {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// pruneChunk bounds the rows one pruning statement deletes, so none holds locks long.
const pruneChunk = 1000

// Prune deletes tombstones buried before before, a chunk at a time, and returns how many
// went. A tombstone only has to outlive the caches and requests that could still refer to
// what it marks, and the redelivery of its deletion event; services prune them with their
// processed-event marks (events.RelayOptions.AlsoPrune), after 30 days.
func Prune(db *gorm.DB) func(ctx context.Context, before time.Time) (int64, error) {
	return func(ctx context.Context, before time.Time) (int64, error) {
		var total int64
		for range 100 {
			res := db.WithContext(ctx).Exec(`DELETE FROM tombstones WHERE (kind, id) IN (
				SELECT kind, id FROM tombstones WHERE deleted_at < ? LIMIT ?)`, before.UTC(), pruneChunk)
			if res.Error != nil {
				return total, fmt.Errorf("prune tombstones: %w", res.Error)
			}
			total += res.RowsAffected
			if res.RowsAffected < pruneChunk {
				break
			}
		}
		return total, nil
	}
}

// Bury records r's tombstone in a transaction of its own, after every write that passed
// Guard for r has ended. Purge r's rows after it returns. Burying twice is harmless.
func Bury(ctx context.Context, db *gorm.DB, r Ref) error {
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if database.Dialect(tx) == database.Postgres {
			if err := tx.Exec(lockExclusive, r.key()).Error; err != nil {
				return err
			}
		}
		return tx.Exec(`INSERT INTO tombstones (kind, id, deleted_at) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO NOTHING`,
			r.Kind, r.ID, time.Now().UTC()).Error
	})
	if err != nil {
		return fmt.Errorf("bury %s: %w", r.key(), err)
	}
	return nil
}
