package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWorkers: workers outlive the cancellation of the context they were made from, end
// at Stop, which waits for them, and a worker's error is logged under its name.
func TestWorkers(t *testing.T) {
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWorkers(ctx, slog.New(slog.NewTextHandler(&logs, nil)))
	var ended atomic.Int32
	started := make(chan struct{}, 2)
	for _, name := range []string{"quiet loop", "failing loop"} {
		w.Go(name, func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			ended.Add(1)
			if name == "failing loop" {
				return errors.New("boom")
			}
			return nil
		})
	}
	<-started
	<-started
	cancel() // the shutdown's drain begins: the workers go on
	if n := ended.Load(); n != 0 {
		t.Fatalf("%d workers ended with the parent context", n)
	}
	w.Stop()
	if n := ended.Load(); n != 2 {
		t.Fatalf("Stop returned with %d of 2 workers ended", n)
	}
	if !strings.Contains(logs.String(), "failing loop stopped") || strings.Contains(logs.String(), "quiet loop") {
		t.Fatalf("logs:\n%s", &logs)
	}
	var none *Workers
	none.Stop()
}
