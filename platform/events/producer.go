package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// publishTimeout bounds one produce request and a record's whole delivery. Without it
// franz-go retries a record until it is delivered, and a caller waiting on a down Kafka
// would hang instead of answering 503.
const publishTimeout = 10 * time.Second

// Message is one record to publish.
type Message struct {
	Topic   string
	Key     string
	Value   []byte
	Headers map[string]string
}

// Producer publishes records synchronously: a call returns once every in-sync replica
// has the record (acks=all), or with an error. Writes are idempotent, so franz-go's own
// retries never duplicate or reorder a partition's records. Safe for concurrent use.
type Producer struct {
	cl        *kgo.Client
	log       *slog.Logger
	published *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

// NewProducer builds a producer that reaches and signs in to Kafka as conn says. It
// does not connect: the first publish or [Producer.Ping] does, so a service can start
// before Kafka and report not-ready until it is there. Settings that cannot work (see
// [Conn.Validate]) and a CA file that cannot be read are errors here.
func NewProducer(conn Conn, clientID string, log *slog.Logger, reg prometheus.Registerer) (*Producer, error) {
	connOpts, err := conn.options()
	if err != nil {
		return nil, fmt.Errorf("events: producer: %w", err)
	}
	log = orDiscard(log)
	published, err := counterVec(reg, "events_published_total", "Records acknowledged by Kafka (acks=all), by topic.", "topic")
	if err != nil {
		return nil, fmt.Errorf("events: producer: %w", err)
	}
	failed, err := counterVec(reg, "events_publish_failed_total", "Records Kafka did not acknowledge, by topic.", "topic")
	if err != nil {
		return nil, fmt.Errorf("events: producer: %w", err)
	}
	cl, err := kgo.NewClient(append(connOpts,
		kgo.ClientID(clientID),
		// acks=all is what makes "published" mean "survives a broker loss"; it is also
		// what idempotent writes (on by default) require.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Every publish here is waited for, so lingering to fill a batch only adds
		// latency to the caller; records published concurrently still share requests.
		kgo.ProducerLinger(0),
		kgo.ProduceRequestTimeout(publishTimeout),
		kgo.RecordDeliveryTimeout(publishTimeout),
		kgo.WithLogger(kgoLogger{log.With("component", "kafka-producer")}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("events: producer client: %w", err)
	}
	return &Producer{cl: cl, log: log, published: published, failed: failed}, nil
}

// Publish sends one record and waits until Kafka acknowledged it (acks=all). An empty
// key lets the partitioner spread records; a key keeps its records on one partition.
func (p *Producer) Publish(ctx context.Context, topic, key string, value []byte, headers map[string]string) error {
	return p.PublishBatch(ctx, []Message{{Topic: topic, Key: key, Value: value, Headers: headers}})
}

// PublishEnvelope sends e keyed by its aggregate id, with the event type and id as
// headers, and waits for acks=all.
func (p *Producer) PublishEnvelope(ctx context.Context, topic string, e Envelope) error {
	value, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("publish %s: marshal envelope: %w", e.Type, err)
	}
	return p.Publish(ctx, topic, e.Key, value, envelopeHeaders(e.Type, e.ID))
}

// PublishBatch sends msgs and waits for all of them. Records for one partition are
// written in slice order. On error some records may have been written and others not:
// the caller republishes the whole batch, and consumers drop the duplicates.
func (p *Producer) PublishBatch(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return errors.New("publish: empty topic")
		}
		recs[i] = toRecord(m)
	}
	var first error
	for _, r := range p.cl.ProduceSync(ctx, recs...) {
		if r.Err != nil {
			p.failed.WithLabelValues(r.Record.Topic).Inc()
			if first == nil {
				first = fmt.Errorf("publish to %s: %w", r.Record.Topic, r.Err)
			}
			continue
		}
		p.published.WithLabelValues(r.Record.Topic).Inc()
	}
	return first
}

// Ping checks that a broker answers, for readiness probes.
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka ping: %w", err)
	}
	return nil
}

// Close closes the connections; publishes still waiting fail. Call it after the last
// caller is done (after the HTTP server drained, after the relay stopped).
func (p *Producer) Close() { p.cl.Close() }

func toRecord(m Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Value: m.Value}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, 0, len(m.Headers))
		for k, v := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		// Sorted so the same message always produces the same record.
		sort.Slice(r.Headers, func(i, j int) bool { return r.Headers[i].Key < r.Headers[j].Key })
	}
	return r
}
