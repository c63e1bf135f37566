package main

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"instant/platform/database"
	"instant/platform/testenv"
	"instant/services/follow/internal/followdb"
)

// TestMigrate runs `follow migrate` as main does against a fresh PostgreSQL database: it
// applies every migration the service applies at start (outbox included) and returns,
// and a second run — the next upgrade's hook Job — finds nothing left to do.
func TestMigrate(t *testing.T) {
	dsn := testenv.Postgres(t)
	vars := env(dsn, []string{"127.0.0.1:1"}, "127.0.0.1:1") // migrate dials neither Kafka nor auth
	getenv := func(k string) string { return vars[k] }

	if err := migrate(context.Background(), getenv, testenv.LogWriter(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	first := appliedMigrations(t, dsn)
	var want []int
	for _, m := range followdb.Migrations() {
		want = append(want, m.Version)
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(first)); !slices.Equal(got, want) {
		t.Fatalf("applied migrations %v, want the service's %v", got, want)
	}

	if err := migrate(context.Background(), getenv, testenv.LogWriter(t)); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if again := appliedMigrations(t, dsn); !maps.Equal(again, first) {
		t.Fatalf("a second migrate changed the bookkeeping: %v, then %v", first, again)
	}
}

// appliedMigrations reads platform/database's bookkeeping: version → applied_at.
func appliedMigrations(t *testing.T, dsn string) map[int]time.Time {
	t.Helper()
	db, err := database.Open(context.Background(), dsn, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	var rows []struct {
		Version   int
		AppliedAt time.Time
	}
	if err := db.Raw("SELECT version, applied_at FROM schema_migrations").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int]time.Time{}
	for _, r := range rows {
		out[r.Version] = r.AppliedAt
	}
	return out
}
