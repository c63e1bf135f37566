package stack

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startTestKafka runs the embedded cluster on a free port over dataDir.
func startTestKafka(t *testing.T, ctx context.Context, dataDir string) *Stack {
	t.Helper()
	s := &Stack{log: testLogger(t)}
	o := Options{DataDir: dataDir, Getenv: envOf(nil), Log: testLogger(t)}
	if err := s.startKafka(ctx, o, false); err != nil {
		t.Fatal(err)
	}
	return s
}

func kafkaAdmin(t *testing.T, brokers []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// The embedded cluster keeps records and committed consumer-group offsets in the data
// directory, so restarting `make run` neither loses email requests nor replays them.
func TestKafka_offsetsAndRecordsSurviveRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()

	first := startTestKafka(t, ctx, dir)
	cl, adm := kafkaAdmin(t, first.Brokers)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Topics() {
		td, ok := topics[name]
		if !ok || len(td.Partitions) != topicPartitions {
			t.Errorf("topic %s: present %v, %d partitions; want %d", name, ok, len(td.Partitions), topicPartitions)
		}
	}
	rec := &kgo.Record{Topic: "email.requests", Partition: 0, Key: []byte("k"), Value: []byte("hello")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.AddOffset("email.requests", rec.Partition, rec.Offset+1, -1)
	if resp, err := adm.CommitOffsets(ctx, "email", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v, %v", err, resp.Error())
	}
	cl.Close()
	first.kafka.Close()

	second := startTestKafka(t, ctx, dir)
	defer second.kafka.Close()
	_, adm = kafkaAdmin(t, second.Brokers)
	fetched, err := adm.FetchOffsets(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fetched.Lookup("email.requests", rec.Partition)
	if !ok || got.At != rec.Offset+1 {
		t.Errorf("committed offset after restart = %+v (found %v), want %d", got.Offset, ok, rec.Offset+1)
	}
	ends, err := adm.ListEndOffsets(ctx, "email.requests")
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup("email.requests", rec.Partition); end.Offset != rec.Offset+1 {
		t.Errorf("end offset after restart = %d, want %d (records kept)", end.Offset, rec.Offset+1)
	}
}

// A topic added to Topics after the data directory was made still gets created.
func TestEnsureTopics_createsMissingKeepsExisting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := startTestKafka(t, ctx, t.TempDir())
	defer s.kafka.Close()

	want := append(Topics(), "story.events")
	if err := ensureTopics(ctx, s.Brokers, want); err != nil {
		t.Fatal(err)
	}
	_, adm := kafkaAdmin(t, s.Brokers)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		if !slices.Contains(topics.Names(), name) {
			t.Errorf("topic %s missing", name)
		}
	}
}
