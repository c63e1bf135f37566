package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics are the Kafka topics of the product, created in the embedded cluster. This is
// the one list to extend when a service starts producing a new kind of event.
func Topics() []string {
	return []string{
		"email.requests",
		"email.requests.dlq",
		"user.events",
		"post.events",
		"comment.events",
		"like.events",
		"follow.events",
		"files.dlq",
		"posts.dlq",
		"comments.dlq",
		"likes.dlq",
		"follow.dlq",
		"feed.dlq",
	}
}

// topicPartitions is enough to see keyed ordering and consumer-group balancing at work
// without making a laptop run dozens of partitions.
const topicPartitions = 3

func (s *Stack) startKafka(ctx context.Context, o Options, fixed bool) error {
	if b := parseBrokers(o.Getenv("KAFKA_BROKERS")); len(b) > 0 {
		s.Brokers = b
		return nil
	}
	dir := filepath.Join(o.DataDir, "kafka")
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(topicPartitions, Topics()...),
		// With a data directory kfake keeps topics, records and consumer-group offsets
		// across restarts, so restarting `make run` neither replays every email request
		// nor forgets what was consumed.
		kfake.DataDir(dir),
		kfake.WithLogger(kafkaLogger{log: o.Log.With("component", "kafka")}),
	}
	if fixed {
		opts = append(opts, kfake.Ports(fixedKafkaPort))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("stack: embedded kafka (set KAFKA_BROKERS to use a real cluster): %w", err)
	}
	s.kafka = c
	s.EmbeddedKafka = true
	s.Brokers = c.ListenAddrs()
	// Seeding applies to a fresh data directory only; a topic added to Topics since the
	// directory was made is created here.
	if err := ensureTopics(ctx, s.Brokers, Topics()); err != nil {
		return err
	}
	return nil
}

// ensureTopics creates whichever of topics the cluster lacks.
func ensureTopics(ctx context.Context, brokers, topics []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("stack: kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, topicPartitions, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("stack: create kafka topics: %w", err)
	}
	var errs []error
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("stack: create kafka topic %s: %w", r.Topic, r.Err))
		}
	}
	return errors.Join(errs...)
}

// kafkaLogger hands kfake's warnings and errors to slog. Its info and debug levels log
// every request, which would drown the services' own output.
type kafkaLogger struct{ log *slog.Logger }

func (l kafkaLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("embedded kafka error", "detail", fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		l.log.Warn("embedded kafka warning", "detail", fmt.Sprintf(format, args...))
	}
}
