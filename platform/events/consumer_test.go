package events_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	brokers := testenv.Kafka(t, "things", "things.dlq")
	reg := prometheus.NewRegistry()
	p := newProducer(t, brokers, reg)
	ctx := context.Background()

	type payload struct {
		Name string `json:"name"`
	}
	sent := mustEnvelope(t, "thing.created", "thing-1", payload{Name: "a"})
	if err := p.PublishEnvelope(ctx, "things", sent); err != nil {
		t.Fatal(err)
	}

	got := make(chan *kgo.Record, 1)
	startConsumer(t, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "g", Topics: []string{"things"},
		DLQTopic: "things.dlq", Registerer: reg}, func(_ context.Context, rec *kgo.Record) error {
		got <- rec
		return nil
	})
	var rec *kgo.Record
	select {
	case rec = <-got:
	case <-time.After(waitFor):
		t.Fatal("no record consumed")
	}
	e, err := events.DecodeEnvelope(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sent, e); diff != "" {
		t.Errorf("envelope (-sent +got):\n%s", diff)
	}
	if string(rec.Key) != "thing-1" {
		t.Errorf("record key = %q, want the aggregate id", rec.Key)
	}
	wantHeaders := map[string]string{"event-type": "thing.created", "event-id": sent.ID}
	if diff := cmp.Diff(wantHeaders, headers(rec)); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if v := metric(t, reg, "events_published_total", map[string]string{"topic": "things"}); v != 1 {
		t.Errorf("events_published_total = %v, want 1", v)
	}
	eventually(t, "consumed counter", func() bool {
		return metric(t, reg, "events_consumed_total", map[string]string{"topic": "things"}) == 1
	})
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		wantError bool
	}{
		{"valid", `{"id":"1","type":"x.y","occurred_at":"2024-01-02T03:04:05Z","producer":"p","key":"k","data":{}}`, false},
		{"not_json_permanent", `{nope`, true},
		{"missing_id_permanent", `{"type":"x.y"}`, true},
		{"missing_type_permanent", `{"id":"1"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.DecodeEnvelope(&kgo.Record{Value: []byte(tt.value)})
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			if err != nil && !events.IsPermanent(err) {
				t.Errorf("err = %v is not permanent", err)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	err := events.Permanent(base)
	if !events.IsPermanent(err) || !events.IsPermanent(errors.Join(errors.New("ctx"), err)) {
		t.Error("Permanent error not recognised")
	}
	if !errors.Is(err, base) {
		t.Error("Permanent hides the cause")
	}
	if events.IsPermanent(base) || events.Permanent(nil) != nil {
		t.Error("plain error or nil marked permanent")
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := range 40 {
		d := events.Backoff(200*time.Millisecond, 10*time.Second, attempt)
		ceiling := min(10*time.Second, 200*time.Millisecond<<min(attempt, 20))
		if d < 0 || d >= ceiling {
			t.Fatalf("attempt %d: backoff %v outside [0, %v)", attempt, d, ceiling)
		}
	}
}

func TestNewConsumerValidates(t *testing.T) {
	ok := events.ConsumerConfig{Conn: events.Conn{Brokers: []string{"127.0.0.1:1"}}, Group: "g", Topics: []string{"t"}, DLQTopic: "t.dlq"}
	h := func(context.Context, *kgo.Record) error { return nil }
	tests := []struct {
		name   string
		mutate func(*events.ConsumerConfig)
	}{
		{"no_brokers", func(c *events.ConsumerConfig) { c.Conn.Brokers = nil }},
		{"no_group", func(c *events.ConsumerConfig) { c.Group = "" }},
		{"no_topics", func(c *events.ConsumerConfig) { c.Topics = nil }},
		{"no_dlq", func(c *events.ConsumerConfig) { c.DLQTopic = "" }},
		{"dlq_is_consumed", func(c *events.ConsumerConfig) { c.DLQTopic = "t" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			if c, err := events.NewConsumer(cfg, h); err == nil {
				c.Close()
				t.Fatal("invalid config accepted")
			}
		})
	}
	c, err := events.NewConsumer(ok, h)
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	c.Close()
}

// TestConsumerRetriesAndDeadLetters sends a record that fails in various ways followed
// by one that succeeds, on the same partition: the second is handled only once the first
// is done, so its arrival shows the consumer moved on.
func TestConsumerRetriesAndDeadLetters(t *testing.T) {
	tests := []struct {
		name         string
		fail         func(attempt int) error // nil: succeed
		wantAttempts int
		wantRetried  float64
		wantDLQ      map[string]string // nil: nothing dead-lettered
	}{
		{
			name:         "succeeds_first_time",
			fail:         func(int) error { return nil },
			wantAttempts: 1,
		},
		{
			name: "transient_twice_then_succeeds",
			fail: func(a int) error {
				if a <= 2 {
					return errTransient
				}
				return nil
			},
			wantAttempts: 3,
			wantRetried:  2,
		},
		{
			name:         "transient_until_attempts_spent_dead_lettered",
			fail:         func(int) error { return errTransient },
			wantAttempts: 3,
			wantRetried:  2,
			wantDLQ:      map[string]string{"dlq-error": "transient failure", "dlq-attempts": "3"},
		},
		{
			name:         "permanent_dead_lettered_at_once",
			fail:         func(int) error { return events.Permanent(errors.New("unknown reference")) },
			wantAttempts: 1,
			wantDLQ:      map[string]string{"dlq-error": "unknown reference", "dlq-attempts": "1"},
		},
		{
			name:         "panic_retried_then_dead_lettered",
			fail:         func(int) error { panic("boom") },
			wantAttempts: 3,
			wantRetried:  2,
			wantDLQ:      map[string]string{"dlq-error": "handler panic: boom", "dlq-attempts": "3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokers := testenv.Kafka(t, "jobs", "jobs.dlq")
			reg := prometheus.NewRegistry()
			p := newProducer(t, brokers, nil)
			ctx := context.Background()
			in := map[string]string{"trace": "abc"}
			if err := p.Publish(ctx, "jobs", "k", []byte("first"), in); err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(ctx, "jobs", "k", []byte("second"), nil); err != nil {
				t.Fatal(err)
			}

			var attempts, firstPartition atomic.Int32
			second := make(chan struct{})
			startConsumer(t, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "g", Topics: []string{"jobs"}, DLQTopic: "jobs.dlq",
				MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Registerer: reg},
				func(_ context.Context, rec *kgo.Record) error {
					if string(rec.Value) == "second" {
						close(second)
						return nil
					}
					firstPartition.Store(rec.Partition)
					return tt.fail(int(attempts.Add(1)))
				})
			select {
			case <-second:
			case <-time.After(waitFor):
				t.Fatal("the record after the failing one was never handled")
			}

			if got := int(attempts.Load()); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			topic := map[string]string{"topic": "jobs"}
			wantDead := 0.0
			if tt.wantDLQ != nil {
				wantDead = 1
			}
			got := map[string]float64{
				"retried":       metric(t, reg, "events_retried_total", topic),
				"failed":        metric(t, reg, "events_failed_total", topic),
				"dead_lettered": metric(t, reg, "events_dead_lettered_total", topic),
			}
			want := map[string]float64{
				"retried":       tt.wantRetried,
				"failed":        float64(tt.wantAttempts - 1 + int(wantDead)),
				"dead_lettered": wantDead,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			eventually(t, "consumed counter", func() bool {
				return metric(t, reg, "events_consumed_total", topic) == 2-wantDead
			})

			if tt.wantDLQ == nil {
				return
			}
			dead := readTopic(t, brokers, "jobs.dlq", 1)[0]
			wantHeaders := map[string]string{"trace": "abc", "dlq-topic": "jobs", "dlq-partition": strconv.Itoa(int(firstPartition.Load())),
				"dlq-offset": "0", "dlq-group": "g"}
			for k, v := range tt.wantDLQ {
				wantHeaders[k] = v
			}
			if diff := cmp.Diff(wantHeaders, headers(dead)); diff != "" {
				t.Errorf("DLQ headers (-want +got):\n%s", diff)
			}
			if string(dead.Value) != "first" || string(dead.Key) != "k" {
				t.Errorf("DLQ record = %q/%q, want key k value first", dead.Key, dead.Value)
			}
		})
	}
}

// faultyKafka is an in-process cluster whose produce requests can be made to fail, to
// stand for a dead-letter topic that cannot take records.
type faultyKafka struct {
	brokers []string
	failing atomic.Bool
}

func newFaultyKafka(t *testing.T, topics ...string) *faultyKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := &faultyKafka{brokers: c.ListenAddrs()}
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !f.failing.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return f
}

// TestOffsetCommittedOnlyAfterHandling stops a consumer while its second record is
// unfinished and starts another in the same group: the first record must not come
// back (it was committed) and the second must (it was not).
func TestOffsetCommittedOnlyAfterHandling(t *testing.T) {
	tests := []struct {
		name string
		// second handles the unfinished record; reached is closed when it is in progress.
		second func(ctx context.Context, reached func()) error
		// dlqDown makes the dead-letter topic refuse records while the first consumer runs.
		dlqDown bool
	}{
		{
			name: "handler_blocks_until_shutdown",
			second: func(ctx context.Context, reached func()) error {
				reached()
				<-ctx.Done()
				return ctx.Err()
			},
		},
		{
			name: "handler_keeps_failing",
			second: func(_ context.Context, reached func()) error {
				reached()
				return errTransient
			},
		},
		{
			name: "dead_letter_topic_unavailable",
			second: func(_ context.Context, reached func()) error {
				return events.Permanent(errors.New("poison"))
			},
			dlqDown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kafka := newFaultyKafka(t, "jobs", "jobs.dlq")
			brokers := kafka.brokers
			p := newProducer(t, brokers, nil)
			ctx := context.Background()
			for _, v := range []string{"r0", "r1"} {
				if err := p.Publish(ctx, "jobs", "same-key", []byte(v), nil); err != nil {
					t.Fatal(err)
				}
			}

			reg := prometheus.NewRegistry()
			reachedCh := make(chan struct{})
			var once sync.Once
			reached := func() { once.Do(func() { close(reachedCh) }) }
			kafka.failing.Store(tt.dlqDown)
			stopA := startConsumer(t, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "g", Topics: []string{"jobs"}, DLQTopic: "jobs.dlq",
				MaxAttempts: 1000, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Registerer: reg},
				func(ctx context.Context, rec *kgo.Record) error {
					if string(rec.Value) == "r0" {
						return nil
					}
					return tt.second(ctx, reached)
				})
			if tt.dlqDown {
				eventually(t, "a failed dead-letter publish", func() bool {
					return metric(t, reg, "events_publish_failed_total", map[string]string{"topic": "jobs.dlq"}) >= 2
				})
			} else {
				select {
				case <-reachedCh:
				case <-time.After(waitFor):
					t.Fatal("second record never reached the handler")
				}
			}
			stopA()
			if got := metric(t, reg, "events_dead_lettered_total", map[string]string{"topic": "jobs"}); got != 0 {
				t.Fatalf("dead-lettered = %v while the DLQ was down", got)
			}
			kafka.failing.Store(false)

			got := make(chan string, 10)
			startConsumer(t, events.ConsumerConfig{Conn: events.Conn{Brokers: brokers}, Group: "g", Topics: []string{"jobs"}, DLQTopic: "jobs.dlq"},
				func(_ context.Context, rec *kgo.Record) error {
					got <- string(rec.Value)
					return nil
				})
			select {
			case v := <-got:
				if v != "r1" {
					t.Fatalf("second consumer first saw %q, want r1 (r0 committed, r1 not)", v)
				}
			case <-time.After(waitFor):
				t.Fatal("unfinished record was not redelivered")
			}
		})
	}
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestProducerFailsWhenKafkaDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newProducer(t, []string{deadAddr(t)}, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, "mail", "k", []byte("v"), nil); err == nil {
		t.Fatal("publish to a down Kafka succeeded")
	}
	if v := metric(t, reg, "events_publish_failed_total", map[string]string{"topic": "mail"}); v != 1 {
		t.Errorf("events_publish_failed_total = %v, want 1", v)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer pcancel()
	if err := p.Ping(pctx); err == nil {
		t.Error("ping of a down Kafka succeeded")
	}
}

func TestSharedRegistry(t *testing.T) {
	// A service's producer and its consumer's dead-letter producer register the same
	// metrics in one registry; neither may fail.
	reg := prometheus.NewRegistry()
	p1, err := events.NewProducer(events.Conn{Brokers: []string{"127.0.0.1:1"}}, "a", logging.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	c, err := events.NewConsumer(events.ConsumerConfig{Conn: events.Conn{Brokers: []string{"127.0.0.1:1"}}, Group: "g", Topics: []string{"t"},
		DLQTopic: "t.dlq", Registerer: reg}, func(context.Context, *kgo.Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
