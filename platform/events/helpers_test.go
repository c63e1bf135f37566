package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// waitFor bounds every wait in these tests. It is a deadline for a condition to become
// true, never a duration asserted on.
const waitFor = 30 * time.Second

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs fn in a goroutine until the returned stop (also run at cleanup) cancels it
// and waits for it; fn must return nil on cancellation.
func start(t testing.TB, name string, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s returned %v", name, err)
				}
			case <-time.After(waitFor):
				t.Errorf("%s did not stop", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newProducer(t testing.TB, brokers []string, reg prometheus.Registerer) *events.Producer {
	t.Helper()
	p, err := events.NewProducer(events.Conn{Brokers: brokers}, "test-producer", logging.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// startConsumer runs a group consumer over h until the returned stop.
func startConsumer(t testing.TB, cfg events.ConsumerConfig, h events.Handler) (stop func()) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	c, err := events.NewConsumer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, "consumer "+cfg.Group, c.Run)
}

// readTopic reads n records of topic from the start, outside any group.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: got %d records, want %d", topic, len(recs), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("read %s: %v", topic, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// topicSize is the number of records in topic (the sum of its partitions' end offsets):
// an exact count of what was ever published, duplicates included.
func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		n += o.Offset
	})
	return n
}

func headers(rec *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range rec.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// metric returns the value of the counter or gauge name with exactly these labels, or 0.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// dialects lists the databases the outbox runs on; each returns a migrated database.
var dialects = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{"postgres", testenv.Postgres},
	{"sqlite", testenv.SQLite},
}

// effectsTable is where test consumers apply their effect: one row per application, so a
// double application shows as two rows.
var effectsTable = database.Migration{Version: 100, Name: "test_effects", SQL: `CREATE TABLE effects (event_id TEXT NOT NULL)`}

func openDB(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "events-test", append(events.OutboxMigrations(1), effectsTable)); err != nil {
		t.Fatal(err)
	}
	return db
}

func mustEnvelope(t testing.TB, typ, key string, data any) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(typ, "test", key, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var errTransient = errors.New("transient failure")
