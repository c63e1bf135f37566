package web

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Health serves /livez and /readyz. Liveness checks only the process; readiness pings
// each dependency with a short timeout and fails as soon as shutdown begins, so the load
// balancer stops sending traffic before the server stops accepting it.
type Health struct {
	mu       sync.RWMutex
	checks   map[string]func(context.Context) error
	draining atomic.Bool
	Timeout  time.Duration
}

// NewHealth returns a Health with a 2s per-check timeout.
func NewHealth() *Health {
	return &Health{checks: map[string]func(context.Context) error{}, Timeout: 2 * time.Second}
}

// Add registers a readiness check for a dependency.
func (h *Health) Add(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// Drain makes readiness fail from now on.
func (h *Health) Drain() { h.draining.Store(true) }

// Livez answers 200 while the process can serve HTTP at all.
func (h *Health) Livez(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Check runs every readiness check concurrently and returns the failures by name.
func (h *Health) Check(ctx context.Context) map[string]string {
	h.mu.RLock()
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	h.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var (
		mu     sync.Mutex
		failed = map[string]string{}
		wg     sync.WaitGroup
	)
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				failed[name] = "unavailable"
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

type readyBody struct {
	Status string            `json:"status"`
	Failed map[string]string `json:"failed,omitempty"`
}

// Readyz answers 200 when every dependency answered, 503 otherwise or while draining.
// Failure details stay generic: names of dependencies, never addresses or errors.
func (h *Health) Readyz(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, readyBody{Status: "draining"})
		return
	}
	failed := h.Check(r.Context())
	if len(failed) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, readyBody{Status: "unavailable", Failed: failed})
		return
	}
	WriteJSON(w, http.StatusOK, readyBody{Status: "ok"})
}
