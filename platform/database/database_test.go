package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
)

var migs = []database.Migration{
	{Version: 1, Name: "items", SQL: `CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL);
		CREATE INDEX items_n ON items (n);`},
	{Version: 2, Name: "stamp",
		Postgres: `ALTER TABLE items ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now()`,
		SQLite:   `ALTER TABLE items ADD COLUMN created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP`},
}

func dsns(t *testing.T) map[string]func(*testing.T) string {
	return map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
		"sqlite":   func(t *testing.T) string { return testenv.SQLite(t) },
	}
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := dsn(t)
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range 3 {
				wg.Go(func() {
					db, err := database.Open(ctx, url, database.Options{Log: logging.Discard()})
					if err != nil {
						errs[i] = err
						return
					}
					defer database.Close(db)
					errs[i] = database.Migrate(ctx, db, "test", migs)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("starter %d: %v", i, err)
				}
			}
			db, err := database.Open(ctx, url, database.Options{Log: logging.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			defer database.Close(db)
			if err := database.Migrate(ctx, db, "test", migs); err != nil {
				t.Fatalf("second run: %v", err)
			}
			var n int64
			db.Table("schema_migrations").Count(&n)
			if n != 2 {
				t.Fatalf("schema_migrations rows = %d, want 2", n)
			}
			if err := db.Exec("INSERT INTO items (id, n) VALUES (?, ?)", "a", 1).Error; err != nil {
				t.Fatal(err)
			}
			err = db.Exec("INSERT INTO items (id, n) VALUES (?, ?)", "a", 2).Error
			if !database.IsUniqueViolation(err) {
				t.Fatalf("duplicate insert: err = %v, want unique violation", err)
			}
		})
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	if _, err := database.Open(context.Background(), "mysql://x", database.Options{}); err == nil {
		t.Fatal("unknown DSN accepted")
	}
}

func TestIsUnavailable(t *testing.T) {
	ctx := context.Background()
	_, connErr := database.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", database.Options{})
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connect_refused", connErr, true},
		{"cancelled", context.Canceled, true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"admin_shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"too_many_connections", &pgconn.PgError{Code: "53300"}, true},
		{"serialization", &pgconn.PgError{Code: "40001"}, true},
		{"syntax_is_a_bug", &pgconn.PgError{Code: "42601"}, false},
		{"unique_is_a_conflict", &pgconn.PgError{Code: "23505"}, false},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := database.IsUnavailable(tt.err); got != tt.want {
				t.Fatalf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestCustomPlans(t *testing.T) {
	db, err := database.Open(context.Background(), testenv.Postgres(t), database.Options{Log: logging.Discard(), CustomPlans: true})
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	var mode string
	if err := db.Raw("SHOW plan_cache_mode").Scan(&mode).Error; err != nil {
		t.Fatal(err)
	}
	if mode != "force_custom_plan" {
		t.Fatalf("plan_cache_mode = %q", mode)
	}
}
