package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"instant/platform/database"
)

// RelayOptions tune a [Relay]. Zero values take the defaults.
type RelayOptions struct {
	Batch     int           // rows per publish (default 100)
	Interval  time.Duration // poll interval when nothing wakes the relay (default 250ms)
	Retention time.Duration // how long published rows are kept for inspection (default 24h)
	// ProcessedRetention is how long the service's consumers' processed-event marks are
	// kept (default 30 days): well above the topics' retention, since an event
	// redelivered after its mark is gone would be applied again.
	ProcessedRetention time.Duration
	// AlsoPrune are the service's other records that only need to outlive redelivery
	// (deletion tombstones, say): with processed_events, every hour or so, each is
	// called to delete what is older than ProcessedRetention and say how much it did.
	AlsoPrune []func(ctx context.Context, before time.Time) (int64, error)
}

const (
	maxRelayBackoff = 10 * time.Second
	gaugeEvery      = time.Second
	cleanupChunk    = 1000
)

// Relay publishes committed outbox rows in seq order and marks them published.
//
// Each round publishes one batch and then marks it; a crash or a failed mark between the
// two leaves the rows unpublished, so they are published again: the outbox is
// at-least-once, and consumers deduplicate by event id ([MarkProcessed]).
//
// On PostgreSQL a round runs in one transaction that locks its rows with FOR UPDATE SKIP
// LOCKED, so replicas running a relay each take different rows and none publishes a row
// another has in hand. Because a replica could otherwise take an aggregate's later event
// while another still holds its earlier one, a round also leaves out any key that has an
// older unpublished row it does not hold: per-key order survives several relays.
//
// On SQLite (one process, one writer) a round reads without a transaction and marks
// afterwards: holding SQLite's only connection across a Kafka round trip would stall the
// service's every query while Kafka is slow.
type Relay struct {
	db      *gorm.DB
	p       *Producer
	log     *slog.Logger
	opts    RelayOptions
	dialect string
	wake    chan struct{}

	backlog   prometheus.Gauge
	oldest    prometheus.Gauge
	published prometheus.Counter

	// afterPublish, when set by tests, runs between publishing and marking; an error
	// simulates a crash there.
	afterPublish func() error
}

// NewRelay builds a relay over the service's database (migrated with
// [OutboxMigrations]) and producer.
func NewRelay(db *gorm.DB, p *Producer, log *slog.Logger, reg prometheus.Registerer, opts RelayOptions) (*Relay, error) {
	if db == nil || p == nil {
		return nil, errors.New("events: relay needs a database and a producer")
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.ProcessedRetention <= 0 {
		opts.ProcessedRetention = 30 * 24 * time.Hour
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	r := &Relay{db: db, p: p, log: orDiscard(log).With("component", "outbox-relay"), opts: opts,
		dialect: database.Dialect(db), wake: make(chan struct{}, 1)}
	var err error
	if r.backlog, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outbox_backlog", Help: "Outbox rows not yet published.",
	})); err != nil {
		return nil, fmt.Errorf("events: relay: %w", err)
	}
	if r.oldest, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outbox_oldest_age_seconds", Help: "Age of the oldest unpublished outbox row (0 when none).",
	})); err != nil {
		return nil, fmt.Errorf("events: relay: %w", err)
	}
	if r.published, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outbox_published_total", Help: "Outbox rows published and marked.",
	})); err != nil {
		return nil, fmt.Errorf("events: relay: %w", err)
	}
	return r, nil
}

// Notify wakes the relay at once instead of at its next poll. It never blocks: wake-ups
// that arrive while one is pending merge into it. Call it after committing a
// transaction that enqueued events.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done and then returns nil. A failed round (Kafka or the
// database down) leaves its rows unpublished and is retried with a growing, jittered
// wait; wake-ups do not cut that wait short, so a burst of writes during an outage does
// not become a burst of doomed publishes.
func (r *Relay) Run(ctx context.Context) error {
	var failures int
	var lastGauges, lastCleanup time.Time
	cleanupEvery := min(r.opts.Retention, time.Hour)
	for {
		// Gauges and cleanup come first, so a relay whose first round hangs on a down
		// Kafka still reports its backlog.
		if time.Since(lastGauges) >= gaugeEvery {
			lastGauges = time.Now()
			r.refreshGauges(ctx)
		}
		if time.Since(lastCleanup) >= cleanupEvery {
			lastCleanup = time.Now()
			r.cleanup(ctx)
		}
		n, err := r.relayOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait, wakeable := r.opts.Interval, true
		switch {
		case err != nil:
			failures++
			wait, wakeable = r.opts.Interval+backoff(r.opts.Interval, maxRelayBackoff, failures), false
			r.log.ErrorContext(ctx, "outbox relay round failed", "failures", failures, "err", err)
		case n == r.opts.Batch:
			failures, wait = 0, 0 // more rows are likely waiting
		default:
			failures = 0
		}
		if wait == 0 {
			continue
		}
		// Never sleep past the next gauge refresh, so the backlog metrics stay current
		// however long the interval.
		if !r.wait(ctx, min(wait, gaugeEvery), wakeable) {
			return nil
		}
	}
}

func (r *Relay) wait(ctx context.Context, d time.Duration, wakeable bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	wake := r.wake
	if !wakeable {
		wake = nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

type outboxRow struct {
	Seq     int64
	ID      string
	Topic   string
	Key     string
	Type    string
	Payload string
}

const selectUnpublished = `SELECT seq, id, topic, key, type, payload FROM outbox
	WHERE published_at IS NULL ORDER BY seq LIMIT ?`

// relayOnce publishes and marks one batch and returns how many rows it published; a
// full batch means more are probably waiting.
func (r *Relay) relayOnce(ctx context.Context) (int, error) {
	db := r.db.WithContext(ctx)
	if r.dialect != database.Postgres {
		var rows []outboxRow
		if err := db.Raw(selectUnpublished, r.opts.Batch).Scan(&rows).Error; err != nil {
			return 0, fmt.Errorf("outbox: select: %w", err)
		}
		return len(rows), r.publishAndMark(ctx, db, rows)
	}
	var n int
	err := db.Transaction(func(tx *gorm.DB) error {
		var rows []outboxRow
		if err := tx.Raw(selectUnpublished+" FOR UPDATE SKIP LOCKED", r.opts.Batch).Scan(&rows).Error; err != nil {
			return fmt.Errorf("outbox: select: %w", err)
		}
		rows, err := r.withoutBlockedKeys(tx, rows)
		if err != nil {
			return err
		}
		n = len(rows)
		return r.publishAndMark(ctx, tx, rows)
	})
	return n, err
}

// withoutBlockedKeys drops the rows whose key has an older unpublished row outside this
// batch: one locked by another relay, or one whose transaction committed after a later
// one's. Publishing them now would overtake it; they go in a later round.
func (r *Relay) withoutBlockedKeys(tx *gorm.DB, rows []outboxRow) ([]outboxRow, error) {
	if len(rows) == 0 {
		return rows, nil
	}
	seqs := make([]int64, len(rows))
	for i, row := range rows {
		seqs[i] = row.Seq
	}
	var blocked []string
	err := tx.Raw(`SELECT DISTINCT key FROM outbox WHERE published_at IS NULL AND seq < ? AND seq NOT IN ?`,
		seqs[len(seqs)-1], seqs).Scan(&blocked).Error
	if err != nil {
		return nil, fmt.Errorf("outbox: blocked keys: %w", err)
	}
	if len(blocked) == 0 {
		return rows, nil
	}
	skip := make(map[string]bool, len(blocked))
	for _, k := range blocked {
		skip[k] = true
	}
	kept := rows[:0]
	for _, row := range rows {
		if !skip[row.Key] {
			kept = append(kept, row)
		}
	}
	return kept, nil
}

func (r *Relay) publishAndMark(ctx context.Context, db *gorm.DB, rows []outboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	msgs := make([]Message, len(rows))
	seqs := make([]int64, len(rows))
	for i, row := range rows {
		msgs[i] = Message{Topic: row.Topic, Key: row.Key, Value: []byte(row.Payload), Headers: envelopeHeaders(row.Type, row.ID)}
		seqs[i] = row.Seq
	}
	if err := r.p.PublishBatch(ctx, msgs); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if r.afterPublish != nil {
		if err := r.afterPublish(); err != nil {
			return fmt.Errorf("outbox: after publish: %w", err)
		}
	}
	if err := db.Exec(`UPDATE outbox SET published_at = ? WHERE seq IN ?`, now(), seqs).Error; err != nil {
		return fmt.Errorf("outbox: mark published: %w", err)
	}
	r.published.Add(float64(len(rows)))
	return nil
}

// refreshGauges reads the backlog. Its errors are logged only: a failing database shows
// up in the round errors already.
func (r *Relay) refreshGauges(ctx context.Context) {
	db := r.db.WithContext(ctx)
	var backlog int64
	if err := db.Raw(`SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`).Scan(&backlog).Error; err != nil {
		r.log.DebugContext(ctx, "outbox backlog query failed", "err", err)
		return
	}
	r.backlog.Set(float64(backlog))
	// Scan, not Row(): on a prepared-statement pool Row() returns an empty *sql.Row when
	// preparing fails (a cancelled context, a lost database) and scanning it panics.
	var oldest struct{ CreatedAt sql.NullTime }
	res := db.Raw(`SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1`).Scan(&oldest)
	switch {
	case res.Error != nil:
		r.log.DebugContext(ctx, "outbox oldest query failed", "err", res.Error)
	case res.RowsAffected == 0 || !oldest.CreatedAt.Valid:
		r.oldest.Set(0)
	default:
		r.oldest.Set(max(time.Since(oldest.CreatedAt.Time).Seconds(), 0))
	}
}

// cleanup deletes rows published longer ago than the retention, in chunks so that no
// statement holds locks for long.
func (r *Relay) cleanup(ctx context.Context) {
	cutoff := now().Add(-r.opts.Retention)
	var total int64
	for range 100 {
		res := r.db.WithContext(ctx).Exec(`DELETE FROM outbox WHERE seq IN (
			SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < ? LIMIT ?)`, cutoff, cleanupChunk)
		if res.Error != nil {
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "outbox cleanup failed", "err", res.Error)
			}
			return
		}
		total += res.RowsAffected
		if res.RowsAffected < cleanupChunk {
			break
		}
	}
	if total > 0 {
		r.log.DebugContext(ctx, "outbox cleanup", "deleted", total)
	}
	// The relay is the one periodic job every event-writing service runs, so it also
	// keeps processed_events (written by the same service's consumers) bounded.
	if n, err := PruneProcessed(ctx, r.db, r.opts.ProcessedRetention); err != nil {
		if ctx.Err() == nil {
			r.log.WarnContext(ctx, "processed events cleanup failed", "err", err)
		}
	} else if n > 0 {
		r.log.DebugContext(ctx, "processed events cleanup", "deleted", n)
	}
	before := now().Add(-r.opts.ProcessedRetention)
	for _, prune := range r.opts.AlsoPrune {
		if n, err := prune(ctx, before); err != nil {
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "cleanup failed", "err", err)
			}
		} else if n > 0 {
			r.log.DebugContext(ctx, "cleanup", "deleted", n)
		}
	}
}
