package emailkafka_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/email/internal/deliverydb"
	"instant/services/email/internal/emailkafka"
	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtp"
	"instant/services/email/internal/smtptest"
)

const (
	topic    = "email.requests"
	dlqTopic = "email.requests.dlq"
	// waitFor bounds every wait: a deadline for a condition, never a duration asserted on.
	waitFor = 30 * time.Second
)

// fixture is one email service's worth of real parts: an SMTP server over TCP, an
// SQLite delivery store and a handler over them, with its own metrics registry.
type fixture struct {
	smtp    *smtptest.Server
	db      *gorm.DB
	store   *deliverydb.Store
	reg     *prometheus.Registry
	handler *emailkafka.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{smtp: smtptest.Start(t, smtptest.Options{}), reg: prometheus.NewRegistry()}
	db, err := database.Open(ctx, testenv.SQLite(t), database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := deliverydb.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	f.db, f.store = db, deliverydb.New(db)
	tpl, err := mail.NewTemplates()
	if err != nil {
		t.Fatal(err)
	}
	sender, err := smtp.New(smtp.Config{
		Host: f.smtp.Host, Port: f.smtp.Port, From: "instant <no-reply@instant.example>",
		TLS: smtp.None, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.handler, err = emailkafka.New(emailkafka.Config{
		Templates: tpl, Sender: sender, Deliveries: f.store, Log: logging.Discard(), Registerer: f.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// envelope builds an email.requested envelope for to.
func envelope(t *testing.T, to, template, code string) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(emailkafka.EventType, "auth", to, emailkafka.Requested{
		To: to, Template: template,
		Params: mail.Params{Code: code, TTLMinutes: "10", Username: "alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// record is the Kafka record a producer makes of e.
func record(t *testing.T, e events.Envelope) *kgo.Record {
	t.Helper()
	v, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(e.Key), Value: v}
}

// metric returns the value of counter name with exactly these labels, or 0.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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

// kafka is an in-process cluster with the request and dead-letter topics, and a
// producer to publish into it.
type kafka struct {
	brokers  []string
	producer *events.Producer
}

func newKafka(t *testing.T) *kafka {
	t.Helper()
	brokers := testenv.Kafka(t, topic, dlqTopic)
	p, err := events.NewProducer(events.Conn{Brokers: brokers}, "test-auth", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &kafka{brokers: brokers, producer: p}
}

func (k *kafka) publish(t *testing.T, e events.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := k.producer.PublishEnvelope(ctx, topic, e); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (k *kafka) publishRaw(t *testing.T, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := k.producer.Publish(ctx, topic, key, value, nil); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// consume runs a consumer in group "email" over f's handler until the returned stop
// (also run at cleanup), which waits for it to commit and leave the group.
func (k *kafka) consume(t *testing.T, f *fixture, maxAttempts int) (stop func()) {
	t.Helper()
	c, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn{Brokers: k.brokers}, Group: "email", Topics: []string{topic}, DLQTopic: dlqTopic,
		MaxAttempts: maxAttempts, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Log: logging.Discard(), Registerer: f.reg,
	}, f.handler.Handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("consumer returned %v", err)
				}
			case <-time.After(waitFor):
				t.Errorf("consumer did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// readDLQ reads n records of the dead-letter topic from its start.
func (k *kafka) readDLQ(t *testing.T, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.ConsumeTopics(dlqTopic),
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
			t.Fatalf("read %s: got %d records, want %d", dlqTopic, len(recs), n)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func headers(rec *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range rec.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// rawRecord is a request record with an arbitrary value.
func rawRecord(value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte("alice@example.com"), Value: value}
}
