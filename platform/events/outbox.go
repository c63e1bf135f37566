package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"instant/platform/database"
)

// OutboxMigrations returns the migrations creating the outbox and processed_events
// tables, numbered from startVersion. A service appends them to its own list, so the
// tables live in its database and share its transactions.
//
// outbox.seq orders publishing; id is the event id (unique, so an event enqueued twice
// fails loudly); payload is the JSON envelope exactly as it will be published. The
// partial index keeps the relay's "oldest unpublished" query cheap however many
// published rows await cleanup.
func OutboxMigrations(startVersion int) []database.Migration {
	return []database.Migration{
		{
			Version: startVersion,
			Name:    "events_outbox",
			Postgres: `CREATE TABLE outbox (
				seq          BIGSERIAL PRIMARY KEY,
				id           TEXT NOT NULL UNIQUE,
				topic        TEXT NOT NULL,
				key          TEXT NOT NULL,
				type         TEXT NOT NULL,
				payload      TEXT NOT NULL,
				created_at   TIMESTAMPTZ NOT NULL,
				published_at TIMESTAMPTZ NULL
			);
			CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
			CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;`,
			SQLite: `CREATE TABLE outbox (
				seq          INTEGER PRIMARY KEY AUTOINCREMENT,
				id           TEXT NOT NULL UNIQUE,
				topic        TEXT NOT NULL,
				key          TEXT NOT NULL,
				type         TEXT NOT NULL,
				payload      TEXT NOT NULL,
				created_at   DATETIME NOT NULL,
				published_at DATETIME NULL
			);
			CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
			CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;`,
		},
		{
			Version: startVersion + 1,
			Name:    "events_processed",
			Postgres: `CREATE TABLE processed_events (
				consumer     TEXT NOT NULL,
				event_id     TEXT NOT NULL,
				processed_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (consumer, event_id)
			);
			CREATE INDEX processed_events_at ON processed_events (processed_at);`,
			SQLite: `CREATE TABLE processed_events (
				consumer     TEXT NOT NULL,
				event_id     TEXT NOT NULL,
				processed_at DATETIME NOT NULL,
				PRIMARY KEY (consumer, event_id)
			);
			CREATE INDEX processed_events_at ON processed_events (processed_at);`,
		},
	}
}

// Enqueue stores e for publishing to topic, inside tx: the caller's transaction that
// also makes the change e describes. Both commit or neither does, so there is never an
// event about a change that was rolled back, nor a change whose event is lost. Call
// [Relay.Notify] after the commit.
func Enqueue(tx *gorm.DB, topic string, e Envelope) error {
	if topic == "" {
		return errors.New("enqueue: empty topic")
	}
	if e.ID == "" || e.Type == "" {
		return errors.New("enqueue: envelope needs an id and a type (use NewEnvelope)")
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("enqueue %s: marshal: %w", e.Type, err)
	}
	err = tx.Exec(`INSERT INTO outbox (id, topic, key, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, topic, e.Key, e.Type, string(payload), now()).Error
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", e.Type, err)
	}
	return nil
}

// MarkProcessed records, inside tx, that consumer has applied event eventID. It returns
// first=true the first time and false when the mark already exists: the effect was
// applied by an earlier delivery and must be skipped. The mark and the effect must share
// tx; the offset is committed after tx commits:
//
//	begin tx → MarkProcessed → if first, apply the effect → commit → return nil to the runner
//
// A crash before the commit loses both the mark and the effect, and the redelivered
// event applies them; a crash after it finds the mark. On PostgreSQL a concurrent
// delivery of the same event waits on the first one's row lock and then sees its mark.
func MarkProcessed(tx *gorm.DB, consumer, eventID string) (first bool, err error) {
	if consumer == "" || eventID == "" {
		return false, errors.New("mark processed: empty consumer or event id")
	}
	res := tx.Exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (?, ?, ?)
		ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, eventID, now())
	if res.Error != nil {
		return false, fmt.Errorf("mark processed: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// PruneProcessed deletes processed-event marks older than olderThan and returns how many
// went. processed_events otherwise grows forever; keep olderThan well above the longest
// time an event can take to be redelivered (topic retention, a consumer stopped for
// days), because an event redelivered after its mark is gone is applied again.
func PruneProcessed(ctx context.Context, db *gorm.DB, olderThan time.Duration) (int64, error) {
	res := db.WithContext(ctx).Exec(`DELETE FROM processed_events WHERE processed_at < ?`, now().Add(-olderThan))
	if res.Error != nil {
		return 0, fmt.Errorf("prune processed events: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// now is the timestamp written to the tables: UTC at microsecond precision, the same on
// both dialects, so SQLite's text timestamps compare in time order.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
