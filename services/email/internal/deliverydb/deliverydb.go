// Package deliverydb stores which email requests were sent, in the service's own
// database (PostgreSQL, or SQLite on one machine), so a redelivered request is not sent
// twice.
package deliverydb

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
	"instant/services/email/internal/mail"
)

// service names the migration lock and bookkeeping of this database.
const service = "email"

// Migrations are the schema of the email database, in version order. The index on
// sent_at serves Prune, which deletes by age.
func Migrations() []database.Migration {
	return []database.Migration{
		{
			Version: 1,
			Name:    "deliveries",
			Postgres: `CREATE TABLE deliveries (
				message_id TEXT PRIMARY KEY,
				template   TEXT NOT NULL,
				sent_at    TIMESTAMPTZ NOT NULL
			);
			CREATE INDEX deliveries_sent_at ON deliveries (sent_at);`,
			SQLite: `CREATE TABLE deliveries (
				message_id TEXT PRIMARY KEY,
				template   TEXT NOT NULL,
				sent_at    DATETIME NOT NULL
			);
			CREATE INDEX deliveries_sent_at ON deliveries (sent_at);`,
		},
	}
}

// Migrate brings db to the current schema.
func Migrate(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, service, Migrations())
}

// deliveryRow is the gorm shape of a deliveries row; it stays in this package.
type deliveryRow struct {
	MessageID string `gorm:"primaryKey"`
	Template  string
	SentAt    time.Time
}

func (deliveryRow) TableName() string { return "deliveries" }

// Store implements mail.Deliveries.
type Store struct{ db *gorm.DB }

var _ mail.Deliveries = (*Store)(nil)

// New returns a store over a migrated database.
func New(db *gorm.DB) *Store { return &Store{db: db} }

// Delivered reports whether a request with this id was sent.
func (s *Store) Delivered(ctx context.Context, messageID string) (bool, error) {
	var rows []deliveryRow
	err := s.db.WithContext(ctx).Select("message_id").Where("message_id = ?", messageID).Limit(1).Find(&rows).Error
	if err != nil {
		return false, fmt.Errorf("look up delivery: %w", err)
	}
	return len(rows) > 0, nil
}

// Record stores that a request was sent; mail.ErrAlreadyRecorded when it already was.
func (s *Store) Record(ctx context.Context, d mail.Delivery) error {
	row := deliveryRow{MessageID: d.MessageID, Template: d.Template, SentAt: d.SentAt.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		if database.IsUniqueViolation(err) {
			return mail.ErrAlreadyRecorded
		}
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// Prune deletes deliveries sent before cutoff and returns how many. A request older than
// the request topic's retention cannot be redelivered, so its row has done its job.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("sent_at < ?", cutoff.UTC()).Delete(&deliveryRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PruneEvery runs Prune at start and then every interval until ctx ends, deleting the
// deliveries older than retention. Several replicas pruning at once only delete the same
// rows; errors are logged and the next round tries again.
func (s *Store) PruneEvery(ctx context.Context, interval, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Prune(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "prune deliveries failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "pruned deliveries", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
