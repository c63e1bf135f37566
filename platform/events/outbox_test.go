package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"gorm.io/gorm"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

func newRelay(t *testing.T, db *gorm.DB, brokers []string, reg prometheus.Registerer, opts events.RelayOptions) *events.Relay {
	t.Helper()
	r, err := events.NewRelay(db, newProducer(t, brokers, nil), logging.Discard(), reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// enqueue commits each envelope in its own transaction, as separate requests would.
func enqueue(t *testing.T, db *gorm.DB, topic string, es ...events.Envelope) {
	t.Helper()
	for _, e := range es {
		if err := db.Transaction(func(tx *gorm.DB) error { return events.Enqueue(tx, topic, e) }); err != nil {
			t.Fatal(err)
		}
	}
}

func unpublished(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(`SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func decode(t *testing.T, rec *kgo.Record) events.Envelope {
	t.Helper()
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestMarkProcessed(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			mark := func(consumer, id string) bool {
				t.Helper()
				var first bool
				err := db.Transaction(func(tx *gorm.DB) error {
					var err error
					first, err = events.MarkProcessed(tx, consumer, id)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return first
			}
			steps := []struct {
				name      string
				consumer  string
				id        string
				wantFirst bool
			}{
				{"new_event_first", "feed", "e1", true},
				{"same_event_again_skipped", "feed", "e1", false},
				{"other_consumer_first", "likes", "e1", true},
				{"other_event_first", "feed", "e2", true},
			}
			for _, s := range steps {
				if got := mark(s.consumer, s.id); got != s.wantFirst {
					t.Errorf("%s: first = %v, want %v", s.name, got, s.wantFirst)
				}
			}

			// A mark made in a transaction that rolls back is gone with the effect.
			errRollback := errors.New("rollback")
			err := db.Transaction(func(tx *gorm.DB) error {
				if _, err := events.MarkProcessed(tx, "feed", "e3"); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			if !mark("feed", "e3") {
				t.Error("mark from a rolled-back transaction survived")
			}

			n, err := events.PruneProcessed(context.Background(), db, -time.Hour) // everything is older than an hour from now
			if err != nil || n != 4 {
				t.Fatalf("prune = %d, %v; want all 4 marks", n, err)
			}
			if !mark("feed", "e1") {
				t.Error("pruned mark still present")
			}
		})
	}
}

func TestEnqueueValidates(t *testing.T) {
	db := openDB(t, testenv.SQLite(t))
	e := mustEnvelope(t, "thing.created", "k", nil)
	tests := []struct {
		name  string
		topic string
		e     events.Envelope
	}{
		{"empty_topic", "", e},
		{"no_id", "things", events.Envelope{Type: "x"}},
		{"no_type", "things", events.Envelope{ID: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := events.Enqueue(db, tt.topic, tt.e); err == nil {
				t.Fatal("invalid enqueue accepted")
			}
		})
	}
	enqueue(t, db, "things", e)
	if err := events.Enqueue(db, "things", e); err == nil {
		t.Fatal("the same event enqueued twice")
	}
}

func TestOutboxRollbackPublishesNothing(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			brokers := testenv.Kafka(t, "things")
			errRollback := errors.New("state change failed")
			rolledBack := mustEnvelope(t, "thing.created", "k", map[string]int{"n": 1})
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := events.Enqueue(tx, "things", rolledBack); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			committed := mustEnvelope(t, "thing.created", "k", map[string]int{"n": 2})
			enqueue(t, db, "things", committed)

			r := newRelay(t, db, brokers, nil, events.RelayOptions{Interval: 10 * time.Millisecond})
			start(t, "relay", r.Run)
			eventually(t, "outbox drained", func() bool { return unpublished(t, db) == 0 })

			// Same key, same partition, seq order: the rolled-back event would come first.
			got := decode(t, readTopic(t, brokers, "things", 1)[0])
			if diff := cmp.Diff(committed, got); diff != "" {
				t.Errorf("published (-want +got):\n%s", diff)
			}
			if n := topicSize(t, brokers, "things"); n != 1 {
				t.Errorf("topic holds %d records, want 1", n)
			}
		})
	}
}

func TestRelayPublishesInSeqOrder(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			brokers := testenv.Kafka(t, "things")
			reg := prometheus.NewRegistry()
			const n = 30
			want := map[string][]events.Envelope{} // per key, in enqueue order
			var all []events.Envelope
			for i := range n {
				key := fmt.Sprintf("k%d", i%3)
				e := mustEnvelope(t, "thing.changed", key, map[string]int{"i": i})
				want[key] = append(want[key], e)
				all = append(all, e)
			}
			// Half before the relay starts, half while it runs and is notified, in
			// batches smaller than the backlog.
			enqueue(t, db, "things", all[:n/2]...)
			r := newRelay(t, db, brokers, reg, events.RelayOptions{Batch: 7, Interval: time.Hour})
			start(t, "relay", r.Run)
			for _, e := range all[n/2:] {
				enqueue(t, db, "things", e)
				r.Notify()
			}
			eventually(t, "outbox drained", func() bool { return unpublished(t, db) == 0 })

			got := map[string][]events.Envelope{}
			for _, rec := range readTopic(t, brokers, "things", n) {
				e := decode(t, rec)
				if string(rec.Key) != e.Key {
					t.Errorf("record key %q, envelope key %q", rec.Key, e.Key)
				}
				if diff := cmp.Diff(map[string]string{"event-type": e.Type, "event-id": e.ID}, headers(rec)); diff != "" {
					t.Errorf("headers (-want +got):\n%s", diff)
				}
				got[e.Key] = append(got[e.Key], e)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("per-key order (-want +got):\n%s", diff)
			}
			if size := topicSize(t, brokers, "things"); size != n {
				t.Errorf("topic holds %d records, want %d", size, n)
			}
			if v := metric(t, reg, "outbox_published_total", nil); v != n {
				t.Errorf("outbox_published_total = %v, want %d", v, n)
			}
			eventually(t, "backlog gauge at zero", func() bool {
				return metric(t, reg, "outbox_backlog", nil) == 0 && metric(t, reg, "outbox_oldest_age_seconds", nil) == 0
			})
		})
	}
}

func TestRelayDeletesPublishedRowsAfterRetention(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			brokers := testenv.Kafka(t, "things")
			enqueue(t, db, "things", mustEnvelope(t, "a", "k", 1), mustEnvelope(t, "b", "k", 2), mustEnvelope(t, "c", "k", 3))
			if err := db.Transaction(func(tx *gorm.DB) error {
				_, err := events.MarkProcessed(tx, "someone", "old-event")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var pruned atomic.Int64 // the cutoffs the extra pruner was given, as Unix nanoseconds
			opts := events.RelayOptions{Interval: 5 * time.Millisecond, Retention: time.Millisecond, ProcessedRetention: time.Millisecond,
				AlsoPrune: []func(context.Context, time.Time) (int64, error){func(_ context.Context, before time.Time) (int64, error) {
					pruned.Store(before.UnixNano())
					return 0, nil
				}}}
			startedAt := time.Now()
			r := newRelay(t, db, brokers, nil, opts)
			start(t, "relay", r.Run)
			eventually(t, "the extra pruner called with the processed-events cutoff", func() bool {
				return pruned.Load() >= startedAt.Add(-time.Second).UnixNano()
			})
			eventually(t, "published rows and old processed marks deleted", func() bool {
				var rows, marks int64
				if err := db.Raw(`SELECT COUNT(*) FROM outbox`).Scan(&rows).Error; err != nil {
					t.Fatal(err)
				}
				if err := db.Raw(`SELECT COUNT(*) FROM processed_events`).Scan(&marks).Error; err != nil {
					t.Fatal(err)
				}
				return rows == 0 && marks == 0
			})
			if n := topicSize(t, brokers, "things"); n != 3 {
				t.Errorf("topic holds %d records, want 3", n)
			}
		})
	}
}

// TestRelayCrashBetweenPublishAndMark fails the first mark after a successful publish:
// the batch stays unpublished, goes out again, and an idempotent consumer applies each
// event once although it receives each twice.
func TestRelayCrashBetweenPublishAndMark(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			brokers := testenv.Kafka(t, "things", "things.dlq")
			const n = 5
			var ids []string
			for i := range n {
				e := mustEnvelope(t, "thing.created", fmt.Sprintf("k%d", i), i)
				ids = append(ids, e.ID)
				enqueue(t, db, "things", e)
			}

			r := newRelay(t, db, brokers, nil, events.RelayOptions{Interval: 10 * time.Millisecond})
			var marks atomic.Int32
			events.SetAfterPublish(r, func() error {
				if marks.Add(1) == 1 {
					return errors.New("simulated crash before mark")
				}
				return nil
			})
			start(t, "relay", r.Run)

			var deliveries atomic.Int32
			startConsumer(t, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "applier", Topics: []string{"things"}, DLQTopic: "things.dlq",
				Backoff: 5 * time.Millisecond},
				func(ctx context.Context, rec *kgo.Record) error {
					e, err := events.DecodeEnvelope(rec)
					if err != nil {
						return err
					}
					err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
						first, err := events.MarkProcessed(tx, "applier", e.ID)
						if err != nil || !first {
							return err
						}
						return tx.Exec(`INSERT INTO effects (event_id) VALUES (?)`, e.ID).Error
					})
					if err == nil {
						deliveries.Add(1)
					}
					return err
				})

			eventually(t, "outbox drained", func() bool { return unpublished(t, db) == 0 })
			if size := topicSize(t, brokers, "things"); size != 2*n {
				t.Fatalf("topic holds %d records, want %d (each event published twice)", size, 2*n)
			}
			eventually(t, "every delivery handled", func() bool { return deliveries.Load() == 2*n })

			var applied []string
			if err := db.Raw(`SELECT event_id FROM effects ORDER BY event_id`).Scan(&applied).Error; err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), ids...)
			if diff := cmp.Diff(want, applied, cmpSorted); diff != "" {
				t.Errorf("effects applied (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTwoRelaysPublishEachRowOnce runs two relays on one PostgreSQL outbox: SKIP LOCKED
// gives each its own rows, and the blocked-key rule keeps each key in order.
func TestTwoRelaysPublishEachRowOnce(t *testing.T) {
	db := openDB(t, testenv.Postgres(t))
	brokers := testenv.Kafka(t, "things")
	const n, keys = 200, 50
	want := map[string][]string{}
	err := db.Transaction(func(tx *gorm.DB) error {
		for i := range n {
			key := fmt.Sprintf("k%d", i%keys)
			e := mustEnvelope(t, "thing.changed", key, i)
			want[key] = append(want[key], e.ID)
			if err := events.Enqueue(tx, "things", e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	var stops []func()
	for i, reg := range regs {
		r := newRelay(t, db, brokers, reg, events.RelayOptions{Batch: 10, Interval: 5 * time.Millisecond})
		stops = append(stops, start(t, fmt.Sprintf("relay %d", i), r.Run))
	}
	eventually(t, "outbox drained", func() bool { return unpublished(t, db) == 0 })
	for _, stop := range stops {
		stop()
	}

	if size := topicSize(t, brokers, "things"); size != n {
		t.Fatalf("topic holds %d records, want %d: a row was published twice", size, n)
	}
	got := map[string][]string{}
	for _, rec := range readTopic(t, brokers, "things", n) {
		e := decode(t, rec)
		got[e.Key] = append(got[e.Key], e.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-key order (-want +got):\n%s", diff)
	}
	t.Logf("relay 0 published %v rows, relay 1 %v",
		metric(t, regs[0], "outbox_published_total", nil), metric(t, regs[1], "outbox_published_total", nil))
}

var cmpSorted = cmp.Transformer("sorted", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
})

// TestRelayKeepsRowsWhileKafkaDown: a relay that cannot publish leaves its rows
// unpublished and reports them in its gauges.
func TestRelayKeepsRowsWhileKafkaDown(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			enqueue(t, db, "things", mustEnvelope(t, "a", "k", 1), mustEnvelope(t, "b", "k", 2))
			reg := prometheus.NewRegistry()
			r := newRelay(t, db, []string{deadAddr(t)}, reg, events.RelayOptions{Interval: 10 * time.Millisecond})
			stop := start(t, "relay", r.Run)
			eventually(t, "backlog gauges", func() bool {
				return metric(t, reg, "outbox_backlog", nil) == 2 && metric(t, reg, "outbox_oldest_age_seconds", nil) > 0
			})
			stop()
			if n := unpublished(t, db); n != 2 {
				t.Errorf("unpublished rows = %d, want 2", n)
			}
		})
	}
}

// TestRefreshGaugesSurvivesCancelledContext: a gauge query on a cancelled context (as at
// shutdown) must fail quietly, never panic, on the prepared-statement pool services use.
func TestRefreshGaugesSurvivesCancelledContext(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			enqueue(t, db, "things", mustEnvelope(t, "a", "k", 1))
			r := newRelay(t, db, []string{deadAddr(t)}, prometheus.NewRegistry(), events.RelayOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			events.RefreshGauges(r, ctx)
		})
	}
}
