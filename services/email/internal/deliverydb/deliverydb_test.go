package deliverydb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/email/internal/deliverydb"
	"instant/services/email/internal/mail"
)

// dialects are the databases the store runs on: PostgreSQL in production, SQLite on one
// machine. Both run in CI.
var dialects = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{"postgres", testenv.Postgres},
	{"sqlite", testenv.SQLite},
}

func open(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := deliverydb.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func TestStore(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := d.dsn(t)
			db := open(t, dsn)
			// Migrating again (a second replica starting, a restart) is a no-op.
			if err := deliverydb.Migrate(ctx, db); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			s := deliverydb.New(db)

			t.Run("unknown_id_not_delivered", func(t *testing.T) {
				ok, err := s.Delivered(ctx, "never-sent")
				if err != nil || ok {
					t.Fatalf("Delivered = %v, %v; want false, nil", ok, err)
				}
			})

			sentAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			t.Run("record_then_delivered", func(t *testing.T) {
				if err := s.Record(ctx, mail.Delivery{MessageID: "m1", Template: mail.TemplateLoginCode, SentAt: sentAt}); err != nil {
					t.Fatalf("Record: %v", err)
				}
				ok, err := s.Delivered(ctx, "m1")
				if err != nil || !ok {
					t.Fatalf("Delivered = %v, %v; want true, nil", ok, err)
				}
			})

			t.Run("record_twice_conflict", func(t *testing.T) {
				err := s.Record(ctx, mail.Delivery{MessageID: "m1", Template: mail.TemplateLoginCode, SentAt: sentAt})
				if !errors.Is(err, mail.ErrAlreadyRecorded) {
					t.Fatalf("second Record = %v, want ErrAlreadyRecorded", err)
				}
			})

			t.Run("prune_by_age", func(t *testing.T) {
				if err := s.Record(ctx, mail.Delivery{MessageID: "m2", Template: mail.TemplateDeleteCode, SentAt: sentAt.Add(48 * time.Hour)}); err != nil {
					t.Fatalf("Record: %v", err)
				}
				n, err := s.Prune(ctx, sentAt.Add(24*time.Hour))
				if err != nil || n != 1 {
					t.Fatalf("Prune = %d, %v; want 1, nil", n, err)
				}
				if ok, _ := s.Delivered(ctx, "m1"); ok {
					t.Error("m1 survived the prune")
				}
				if ok, _ := s.Delivered(ctx, "m2"); !ok {
					t.Error("m2 was pruned")
				}
			})

			t.Run("survives_reopen", func(t *testing.T) {
				// What a restarted process sees: a new pool over the same database.
				s2 := deliverydb.New(open(t, dsn))
				if ok, err := s2.Delivered(ctx, "m2"); err != nil || !ok {
					t.Fatalf("Delivered after reopen = %v, %v; want true, nil", ok, err)
				}
			})

			t.Run("closed_database_error", func(t *testing.T) {
				db2 := open(t, dsn)
				database.Close(db2)
				if _, err := deliverydb.New(db2).Delivered(ctx, "m2"); err == nil {
					t.Fatal("Delivered on a closed database succeeded")
				}
			})
		})
	}
}
