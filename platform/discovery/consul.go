package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

const (
	// blockingWait is how long one blocking query may hang in Consul. Consul caps it at
	// 10 minutes and defaults to 5; we say so explicitly.
	blockingWait = 5 * time.Minute
	// minQueryGap rate-limits each watcher, as Consul's blocking-query guide asks: an
	// index reset or a misbehaving server must not turn the loop into a busy loop.
	minQueryGap = 100 * time.Millisecond
	// Error backoff: exponential with full jitter, so many gateways do not hammer a
	// recovering Consul in lockstep.
	backoffBase = 100 * time.Millisecond
	backoffMax  = 30 * time.Second

	defaultInitialWait = 3 * time.Second
)

// consulResolver keeps one list per watched service, each swapped whole by its watcher
// and read lock-free by Instances. The map itself is built once in New and never written
// again, so it needs no lock.
type consulResolver struct {
	lists  map[string]*atomic.Pointer[[]string]
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newConsul(ctx context.Context, cfg Config, log *slog.Logger) (*consulResolver, error) {
	if cfg.ConsulAddr == "" {
		// api.NewClient would otherwise fall back to CONSUL_HTTP_ADDR from the process
		// environment, bypassing the service's config.
		return nil, errors.New("discovery: consul: empty address")
	}
	services := slices.Compact(slices.Sorted(slices.Values(cfg.Services)))
	if len(services) == 0 || services[0] == "" {
		return nil, errors.New("discovery: consul: no services to watch (or an empty name)")
	}
	client, err := api.NewClient(&api.Config{Address: cfg.ConsulAddr, Token: cfg.ConsulToken})
	if err != nil {
		return nil, fmt.Errorf("discovery: consul client: %w", err)
	}
	wait := cfg.ConsulInitialWait
	if wait <= 0 {
		wait = defaultInitialWait
	}

	// The watchers outlive New's caller only as long as ctx: on shutdown they stop, and
	// Instances keeps serving the last lists while in-flight requests drain.
	wctx, cancel := context.WithCancel(ctx)
	r := &consulResolver{lists: make(map[string]*atomic.Pointer[[]string]), cancel: cancel}
	filled := make([]chan struct{}, len(services))
	for i, name := range services {
		r.lists[name] = new(atomic.Pointer[[]string])
		filled[i] = make(chan struct{})
		w := &watcher{health: client.Health(), name: name, list: r.lists[name], filled: filled[i],
			log: log.With("service", name)}
		r.wg.Go(func() { w.run(wctx) })
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	for _, ch := range filled {
		select {
		case <-ch:
		case <-timer.C:
			var pending []string
			for i, ch := range filled {
				select {
				case <-ch:
				default:
					pending = append(pending, services[i])
				}
			}
			log.Warn("discovery: consul slow, continuing without initial lists",
				"addr", cfg.ConsulAddr, "waited", wait, "pending", pending)
			return r, nil
		case <-ctx.Done():
			r.Close()
			return nil, fmt.Errorf("discovery: consul initial fill: %w", ctx.Err())
		}
	}
	return r, nil
}

func (r *consulResolver) Instances(service string) ([]string, error) {
	p, ok := r.lists[service]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not watched", ErrNoInstances, service)
	}
	list := p.Load()
	if list == nil || len(*list) == 0 {
		return nil, fmt.Errorf("%w: no healthy %q in consul", ErrNoInstances, service)
	}
	return append([]string(nil), *list...), nil
}

// Close stops the watchers and waits for them; it is safe to call more than once.
func (r *consulResolver) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// watcher follows one service with blocking queries.
type watcher struct {
	health *api.Health
	name   string
	list   *atomic.Pointer[[]string]
	filled chan struct{} // closed after the first successful query
	log    *slog.Logger
}

func (w *watcher) run(ctx context.Context) {
	var index uint64
	var failures int
	var last time.Time
	for {
		if !sleep(ctx, minQueryGap-time.Since(last)) {
			return
		}
		last = time.Now()
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: blockingWait}).WithContext(ctx)
		entries, meta, err := w.health.Service(w.name, "", true, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := backoff(failures)
			// The last list stays in place: a Consul hiccup must not empty the gateway.
			w.log.Warn("discovery: consul health query failed", "err", err,
				"failures", failures, "retry_in", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		failures = 0
		index = nextIndex(index, meta.LastIndex)

		list := addresses(entries)
		if old := w.list.Load(); old == nil || !slices.Equal(*old, list) {
			w.list.Store(&list)
			w.log.Info("discovery: instances changed", "instances", list, "index", meta.LastIndex)
		}
		if w.filled != nil {
			close(w.filled)
			w.filled = nil
		}
	}
}

// nextIndex applies Consul's blocking-query rules: an index that goes backwards (snapshot
// restore, server changes) restarts the loop from 0 so updates are not missed for
// unbounded time, and an index below 1 becomes 1 so the next query blocks.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got < 1:
		return 1
	default:
		return got
	}
}

// addresses turns health entries into sorted host:port strings. A service registered
// without an address is reachable at its node's address, as Consul's own DNS answers.
func addresses(entries []*api.ServiceEntry) []string {
	list := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil {
			continue
		}
		host := e.Service.Address
		if host == "" && e.Node != nil {
			host = e.Node.Address
		}
		if host == "" || e.Service.Port == 0 {
			continue
		}
		list = append(list, net.JoinHostPort(host, strconv.Itoa(e.Service.Port)))
	}
	slices.Sort(list)
	return slices.Compact(list)
}

// backoff returns a full-jitter exponential delay for the nth consecutive failure.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 20 {
		d = min(backoffBase<<(n-1), backoffMax)
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// sleep waits d or until ctx ends, reporting whether to carry on.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
