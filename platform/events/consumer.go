package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Handler processes one record. It returns nil when the record's effect is done (or was
// already done: handlers must tolerate redelivery), a [Permanent] error when retrying
// cannot help, and any other error to be retried. Handlers for different partitions run
// concurrently, so a handler must be safe for concurrent use. Its error messages are
// logged and copied into the dead-letter record's headers: keep payload data (emails,
// codes) out of them.
type Handler func(ctx context.Context, rec *kgo.Record) error

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a malformed payload, a reference to
// something that will never exist): the runner sends the record to the dead-letter topic
// at once instead of spending its retries. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ConsumerConfig configures a [Consumer]. Zero values take the documented defaults.
type ConsumerConfig struct {
	// Conn reaches and signs in to Kafka, for the group's client and the dead-letter
	// producer alike.
	Conn   Conn
	Group  string
	Topics []string
	// DLQTopic receives records that failed MaxAttempts times or permanently. Required:
	// without it the only choices for a poison record are to drop it or to stall the
	// partition forever.
	DLQTopic string
	// MaxAttempts is how many times the handler sees a record before it is dead-lettered
	// (default 5).
	MaxAttempts int
	// Backoff is the base of the exponential, fully jittered wait between attempts
	// (default 200ms); MaxBackoff caps it (default 10s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// maxPollRecords bounds one poll, so a slow handler delays a rebalance (which waits for
// the poll's records, see BlockRebalanceOnPoll) and the next commit by a bounded amount.
const maxPollRecords = 100

// commitTimeout bounds an offset commit made after Run's context ended.
const commitTimeout = 5 * time.Second

// maxDLQError bounds the dlq-error header: an error message is for a human reading the
// dead-letter topic, not a place to carry a payload.
const maxDLQError = 1024

// Consumer runs a consumer group over a handler with at-least-once semantics: an offset
// is committed only after its record was handled or dead-lettered, so a crash, a
// shutdown or a rebalance redelivers work instead of losing it.
//
// A partition whose record cannot reach the dead-letter topic stalls, by design, and
// holds up rebalances of the group; past the group's rebalance timeout (60s) the member
// is dropped and its partitions move, still uncommitted, to another member.
type Consumer struct {
	cfg     ConsumerConfig
	handler Handler
	log     *slog.Logger
	cl      *kgo.Client
	dlq     *Producer

	consumed, failed, retried, deadLettered *prometheus.CounterVec
	lag                                     *prometheus.GaugeVec

	mu sync.Mutex
	// done holds, per partition, the last record handled or dead-lettered and not yet
	// committed. Only these offsets are ever committed.
	done map[string]map[int32]*kgo.Record

	closeOnce sync.Once
}

// NewConsumer validates cfg and builds the consumer. It does not connect: [Consumer.Run]
// joins the group, and [Consumer.Ping] checks a broker for readiness.
func NewConsumer(cfg ConsumerConfig, handler Handler) (*Consumer, error) {
	switch {
	case cfg.Group == "":
		return nil, errors.New("events: consumer needs a group")
	case len(cfg.Topics) == 0:
		return nil, errors.New("events: consumer needs topics")
	case cfg.DLQTopic == "":
		return nil, errors.New("events: consumer needs a dead-letter topic")
	case slices.Contains(cfg.Topics, cfg.DLQTopic):
		return nil, errors.New("events: consumer must not consume its own dead-letter topic")
	case handler == nil:
		return nil, errors.New("events: consumer needs a handler")
	}
	connOpts, err := cfg.Conn.options()
	if err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}
	// The settings are needed only to build the clients below; the consumer keeps no
	// copy, so no printed or dumped Consumer shows the password.
	conn := cfg.Conn
	cfg.Conn = Conn{}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	cfg.Log = orDiscard(cfg.Log).With("group", cfg.Group)
	c := &Consumer{cfg: cfg, handler: handler, log: cfg.Log, done: map[string]map[int32]*kgo.Record{}}

	reg := cfg.Registerer
	if c.consumed, err = counterVec(reg, "events_consumed_total", "Records handled successfully, by topic.", "topic"); err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}
	if c.failed, err = counterVec(reg, "events_failed_total", "Handler errors (each failed attempt), by topic.", "topic"); err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}
	if c.retried, err = counterVec(reg, "events_retried_total", "Handler retries after a transient error, by topic.", "topic"); err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}
	if c.deadLettered, err = counterVec(reg, "events_dead_lettered_total", "Records sent to the dead-letter topic, by source topic.", "topic"); err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}
	if c.lag, err = gaugeVec(reg, "events_consumer_lag", "Records behind the high watermark after the last handled record.", "topic", "partition"); err != nil {
		return nil, fmt.Errorf("events: consumer: %w", err)
	}

	c.dlq, err = NewProducer(conn, cfg.Group+"-dlq", cfg.Log, reg)
	if err != nil {
		return nil, fmt.Errorf("events: consumer dead-letter producer: %w", err)
	}
	c.cl, err = kgo.NewClient(append(connOpts,
		kgo.ClientID(cfg.Group),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		// A new group starts at the oldest record: an event published before the first
		// deployment of its consumer is still an event to handle.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A fetch waits on the broker until data arrives or this passes. Partitions whose
		// offsets load after a fetch went out (after a rebalance, on start) join only the
		// next fetch, so this bounds how long they sit idle; franz-go's 5s default
		// delayed them visibly. 500ms is the Java consumer's default; an idle consumer
		// pays two cheap requests a second for it.
		kgo.FetchMaxWait(500*time.Millisecond),
		// Offsets are committed by hand, only for records that are done.
		kgo.DisableAutoCommit(),
		// A rebalance waits until the records of the current poll are done and
		// committed, so a partition never moves while its record is being handled
		// (which would let two members handle it at once).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.WithLogger(kgoLogger{cfg.Log.With("component", "kafka-consumer")}),
	)...)
	if err != nil {
		c.dlq.Close()
		return nil, fmt.Errorf("events: consumer client: %w", err)
	}
	return c, nil
}

// Ping checks that a broker answers, for readiness probes.
func (c *Consumer) Ping(ctx context.Context) error {
	if err := c.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka ping: %w", err)
	}
	return nil
}

// Close leaves the group and closes the clients. Run calls it when it returns; call it
// yourself only for a consumer that never ran. Safe to call more than once.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() {
		c.cl.Close()
		c.dlq.Close()
	})
}

// Run consumes until ctx is done, then commits what was handled, leaves the group and
// returns nil. Records of one partition are handled one after another in offset order;
// partitions are handled concurrently. A consumer runs once.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.Close()
	idle := 0
	for {
		fetches := c.cl.PollRecords(ctx, maxPollRecords)
		if fetches.IsClientClosed() {
			c.cl.AllowRebalance()
			return nil
		}
		if ctx.Err() != nil {
			c.cl.AllowRebalance()
			c.commitDone(context.WithoutCancel(ctx))
			return nil
		}
		fetchErrs := 0
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			fetchErrs++
			c.log.WarnContext(ctx, "kafka fetch error", "topic", topic, "partition", partition, "err", err)
		})

		interrupted := c.process(ctx, fetches)
		// Commit before allowing the rebalance, so a partition's next owner starts
		// after the records handled here.
		c.commitDone(context.WithoutCancel(ctx))
		c.cl.AllowRebalance()
		if interrupted {
			return nil
		}
		// A poll that returns only errors returns at once: wait a little rather than
		// spin against a broken broker.
		if fetchErrs > 0 && fetches.NumRecords() == 0 {
			idle++
			if !sleep(ctx, backoff(c.cfg.Backoff, c.cfg.MaxBackoff, idle)+c.cfg.Backoff) {
				c.commitDone(context.WithoutCancel(ctx))
				return nil
			}
		} else {
			idle = 0
		}
	}
}

// process handles the polled records, one goroutine per partition, and reports whether
// ctx ended before every record was done.
func (c *Consumer) process(ctx context.Context, fetches kgo.Fetches) bool {
	var wg sync.WaitGroup
	var interrupted atomic.Bool
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		partition := strconv.Itoa(int(p.Partition))
		// Lag as of the poll, so a partition stuck on one record shows it.
		c.lag.WithLabelValues(p.Topic, partition).Set(float64(max(p.HighWatermark-p.Records[0].Offset, 0)))
		wg.Go(func() {
			for _, rec := range p.Records {
				if !c.handle(ctx, rec) {
					// Later records of this partition must not be marked done
					// past the one left unfinished.
					interrupted.Store(true)
					return
				}
				c.markDone(rec)
				c.lag.WithLabelValues(rec.Topic, partition).Set(float64(max(p.HighWatermark-rec.Offset-1, 0)))
			}
		})
	})
	wg.Wait()
	return interrupted.Load()
}

// handle runs the handler with retries and dead-letters the record when they are spent.
// It returns true when the record is done (handled or in the DLQ), false when ctx ended
// first: the record then stays uncommitted and is redelivered.
func (c *Consumer) handle(ctx context.Context, rec *kgo.Record) bool {
	for attempt := 1; ; attempt++ {
		err := c.call(ctx, rec)
		if err == nil {
			c.consumed.WithLabelValues(rec.Topic).Inc()
			return true
		}
		if ctx.Err() != nil {
			return false // shutting down; the error is most likely the cancellation
		}
		c.failed.WithLabelValues(rec.Topic).Inc()
		if IsPermanent(err) || attempt >= c.cfg.MaxAttempts {
			return c.deadLetter(ctx, rec, err, attempt)
		}
		c.log.WarnContext(ctx, "event handler failed, retrying", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "attempt", attempt, "err", err)
		c.retried.WithLabelValues(rec.Topic).Inc()
		if !sleep(ctx, backoff(c.cfg.Backoff, c.cfg.MaxBackoff, attempt-1)) {
			return false
		}
	}
}

// call runs the handler, turning a panic into an error so one bad record cannot kill
// the process: the record is retried and then dead-lettered like any other failure.
func (c *Consumer) call(ctx context.Context, rec *kgo.Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.ErrorContext(ctx, "event handler panicked", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "panic", fmt.Sprint(p))
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.handler(ctx, rec)
}

// deadLetter publishes rec to the DLQ topic, retrying until Kafka takes it or ctx ends.
// The offset is committed only after the DLQ has the record, so a DLQ outage stalls the
// partition instead of losing the record.
func (c *Consumer) deadLetter(ctx context.Context, rec *kgo.Record, cause error, attempts int) bool {
	msg := Message{Topic: c.cfg.DLQTopic, Key: string(rec.Key), Value: rec.Value, Headers: dlqHeaders(rec, cause, c.cfg.Group, attempts)}
	for try := 0; ; try++ {
		err := c.dlq.PublishBatch(ctx, []Message{msg})
		if err == nil {
			c.deadLettered.WithLabelValues(rec.Topic).Inc()
			c.log.WarnContext(ctx, "event dead-lettered", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "attempts", attempts, "dlq", c.cfg.DLQTopic, "err", cause)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.log.ErrorContext(ctx, "dead-letter publish failed, retrying", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "dlq", c.cfg.DLQTopic, "err", err)
		if !sleep(ctx, backoff(c.cfg.Backoff, c.cfg.MaxBackoff, try)+c.cfg.Backoff) {
			return false
		}
	}
}

// dlqHeaders keeps the record's own headers (minus dlq-* ones from an earlier trip
// through a DLQ) and adds where it came from and why it failed.
func dlqHeaders(rec *kgo.Record, cause error, group string, attempts int) map[string]string {
	h := make(map[string]string, len(rec.Headers)+6)
	for _, kv := range rec.Headers {
		if !strings.HasPrefix(kv.Key, "dlq-") {
			h[kv.Key] = string(kv.Value)
		}
	}
	msg := cause.Error()
	if len(msg) > maxDLQError {
		msg = strings.ToValidUTF8(msg[:maxDLQError], "")
	}
	h[HeaderDLQError] = msg
	h[HeaderDLQTopic] = rec.Topic
	h[HeaderDLQPartition] = strconv.Itoa(int(rec.Partition))
	h[HeaderDLQOffset] = strconv.FormatInt(rec.Offset, 10)
	h[HeaderDLQGroup] = group
	h[HeaderDLQAttempts] = strconv.Itoa(attempts)
	return h
}

func (c *Consumer) markDone(rec *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := c.done[rec.Topic]
	if parts == nil {
		parts = map[int32]*kgo.Record{}
		c.done[rec.Topic] = parts
	}
	parts[rec.Partition] = rec
}

// commitDone commits the offsets after the done records of the given partitions (all
// when only is nil). A failed commit keeps them for the next try; if the partition moves
// meanwhile, its next owner redelivers them, which at-least-once allows.
func (c *Consumer) commitDone(ctx context.Context, only ...map[string][]int32) {
	c.mu.Lock()
	var recs []*kgo.Record
	for topic, parts := range c.done {
		for p, rec := range parts {
			if len(only) == 0 || slices.Contains(only[0][topic], p) {
				recs = append(recs, rec)
			}
		}
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	if err := c.cl.CommitRecords(ctx, recs...); err != nil {
		c.log.WarnContext(ctx, "offset commit failed; records will be redelivered if the partition moves", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range recs {
		if c.done[rec.Topic][rec.Partition] == rec {
			delete(c.done[rec.Topic], rec.Partition)
		}
	}
}

// onRevoked commits what is done for the partitions leaving this member, so their next
// owner does not redo it, and forgets their lag.
func (c *Consumer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.commitDone(ctx, revoked)
	c.forget(revoked)
}

// onLost forgets partitions taken away without a chance to commit (the member was
// fenced): committing now would be rejected, and the next owner redelivers.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.forget(lost)
}

func (c *Consumer) forget(parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(c.done[topic], p)
			c.lag.DeleteLabelValues(topic, strconv.Itoa(int(p)))
		}
	}
}
