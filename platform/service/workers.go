package service

import (
	"context"
	"log/slog"
	"sync"
)

// Workers are a process's background loops: the outbox relay, an events consumer, a
// periodic sweep. They run on a context of their own that a shutdown's cancellation does
// not reach, so they keep going while the servers drain (events committed by the last
// requests still leave); Stop, called after the servers, ends them and waits.
type Workers struct {
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	log  *slog.Logger
}

// NewWorkers returns an empty group whose context carries ctx's values, not its end.
func NewWorkers(ctx context.Context, log *slog.Logger) *Workers {
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Workers{ctx: wctx, stop: stop, log: log}
}

// Go runs fn in the background until Stop. An error fn returns is logged as
// "<name> stopped".
func (w *Workers) Go(name string, fn func(ctx context.Context) error) {
	w.wg.Go(func() {
		if err := fn(w.ctx); err != nil {
			w.log.Error(name+" stopped", "err", err)
		}
	})
}

// Stop ends the workers and waits for them to return. A nil group has nothing to stop.
func (w *Workers) Stop() {
	if w == nil {
		return
	}
	w.stop()
	w.wg.Wait()
}
