package database

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Migration is one versioned schema change. The SQL differs per dialect where the types
// do (uuid, timestamptz, jsonb); SQL applies to both when the dialect field is empty.
type Migration struct {
	Version  int
	Name     string
	SQL      string // for both dialects
	Postgres string // overrides SQL on PostgreSQL
	SQLite   string // overrides SQL on SQLite
}

type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Migrate applies the pending migrations in version order, each in its own transaction
// with its bookkeeping row. On PostgreSQL an advisory lock held on one connection makes
// replicas that start at once apply them one after another: the second finds nothing left
// to do. On SQLite the file lock serialises writers, and the primary key on the version
// turns a concurrent duplicate into a no-op.
func Migrate(ctx context.Context, db *gorm.DB, service string, migs []Migration) error {
	sorted := append([]Migration(nil), migs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Version == sorted[i-1].Version {
			return fmt.Errorf("migrate %s: duplicate version %d", service, sorted[i].Version)
		}
	}
	dialect := Dialect(db)
	return db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if dialect == Postgres {
			key := lockKey(service)
			if err := conn.Exec("SELECT pg_advisory_lock(?)", key).Error; err != nil {
				return fmt.Errorf("migrate %s: lock: %w", service, err)
			}
			defer conn.Exec("SELECT pg_advisory_unlock(?)", key)
		}
		if err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`).Error; err != nil {
			return fmt.Errorf("migrate %s: bookkeeping table: %w", service, err)
		}
		var applied []int
		if err := conn.Model(&schemaMigration{}).Pluck("version", &applied).Error; err != nil {
			return fmt.Errorf("migrate %s: read applied: %w", service, err)
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range sorted {
			if done[m.Version] {
				continue
			}
			stmt := m.SQL
			if dialect == Postgres && m.Postgres != "" {
				stmt = m.Postgres
			}
			if dialect == SQLite && m.SQLite != "" {
				stmt = m.SQLite
			}
			err := conn.Transaction(func(tx *gorm.DB) error {
				res := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING",
					m.Version, m.Name, time.Now().UTC())
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected == 0 {
					return nil // applied by a concurrent starter
				}
				return tx.Exec(stmt).Error
			})
			if err != nil {
				return fmt.Errorf("migrate %s: %d_%s: %w", service, m.Version, m.Name, err)
			}
		}
		return nil
	})
}

func lockKey(service string) int64 {
	h := fnv.New64a()
	h.Write([]byte("instant-migrate:" + service))
	return int64(h.Sum64() >> 1)
}
