package events_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gorm.io/gorm"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// Benchmarks of the event plumbing against real servers (PostgreSQL from testenv, the
// in-process Kafka). An op is one batch; events/s is the figure to compare. Run: make
// bench-go, or
//
//	go test -run '^$' -bench . -benchmem ./platform/events/

// relayBatch is how many events one transaction enqueues in BenchmarkRelay.
const relayBatch = 1000

// BenchmarkRelay measures outbox relay throughput on PostgreSQL: each op enqueues
// relayBatch events in one transaction (untimed), then times from the commit's Notify
// until the relay has published and marked them all (its outbox_published_total; the
// millisecond poll of the registry is in B/op, a small share of it).
func BenchmarkRelay(b *testing.B) {
	brokers := testenv.Kafka(b, "bench")
	db := openDB(b, testenv.Postgres(b))
	reg := prometheus.NewRegistry()
	relay, err := events.NewRelay(db, newProducer(b, brokers, reg), logging.Discard(), reg, events.RelayOptions{})
	if err != nil {
		b.Fatal(err)
	}
	start(b, "relay", relay.Run)
	published := func() float64 { return metric(b, reg, "outbox_published_total", nil) }

	var done float64
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		err := db.Transaction(func(tx *gorm.DB) error {
			for j := range relayBatch {
				e := mustEnvelope(b, "bench.created", "k"+strconv.Itoa(j%64), map[string]int{"i": j})
				if err := events.Enqueue(tx, "bench", e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += relayBatch
		b.StartTimer()
		t0 := time.Now()
		relay.Notify()
		waitUntil(b, "relay to publish the batch", func() bool { return published() >= done })
		elapsed += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*relayBatch)/elapsed.Seconds(), "events/s")
}

// consumerBatch is how many records each op of BenchmarkConsumer pre-produces.
const consumerBatch = 5000

// BenchmarkConsumer measures consumer throughput with a no-op handler: each op produces
// consumerBatch records to a fresh topic (untimed), then times a new group's consumer
// from its start, joining the group included, until it has handled them all — a
// consumer working off a backlog after a restart.
func BenchmarkConsumer(b *testing.B) {
	brokers := testenv.Kafka(b)
	reg := prometheus.NewRegistry()
	p := newProducer(b, brokers, reg)
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	value := []byte(`{"id":"0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f","type":"bench.created","data":{"i":1}}`)

	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		topic := fmt.Sprintf("bench-%d", i)
		// Three partitions, as testenv.Kafka seeds its topics.
		if _, err := kadm.NewClient(admin).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		msgs := make([]events.Message, consumerBatch)
		for j := range msgs {
			msgs[j] = events.Message{Topic: topic, Key: "k" + strconv.Itoa(j%64), Value: value}
		}
		if err := p.PublishBatch(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
		var handled atomic.Int64
		b.StartTimer()
		t0 := time.Now()
		stop := startConsumer(b, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "bench-" + strconv.Itoa(i),
			Topics: []string{topic}, DLQTopic: topic + ".dlq", Registerer: prometheus.NewRegistry()},
			func(context.Context, *kgo.Record) error { handled.Add(1); return nil })
		waitUntil(b, "consumer to handle the batch", func() bool { return handled.Load() >= consumerBatch })
		elapsed += time.Since(t0)
		b.StopTimer()
		stop()
	}
	b.ReportMetric(float64(b.N*consumerBatch)/elapsed.Seconds(), "events/s")
}

// waitUntil polls cond every millisecond until it holds or waitFor passes.
func waitUntil(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
