package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"instant/tools/loadgen/internal/report"
)

// liveness is what a long-running generator shows its operator: probes for its
// orchestrator and every request it makes as Prometheus metrics, so a dashboard sees the
// product's latency as its users would.
type liveness struct {
	ready    atomic.Bool
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	rounds   *prometheus.CounterVec
}

func newLiveness() *liveness {
	l := &liveness{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadgen_requests_total",
			Help: "Requests the load generator made, by endpoint and answer (an HTTP status, or transport).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loadgen_request_duration_seconds",
			Help: "Latency of the load generator's requests from their intended start, by endpoint.",
			// From a cached read to a request stuck behind a stall.
			Buckets: []float64{.002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}, []string{"endpoint"}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadgen_rounds_total",
			Help: "Finished rounds of a continuous run, by result (ok: no more server errors than tolerated).",
		}, []string{"result"}),
	}
	l.reg.MustRegister(l.requests, l.latency, l.rounds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return l
}

// Record implements api.Recorder.
func (l *liveness) Record(endpoint string, status int, err error, latency time.Duration, _ time.Time) {
	code := strconv.Itoa(status)
	if err != nil {
		code = report.Transport
	}
	l.requests.WithLabelValues(endpoint, code).Inc()
	l.latency.WithLabelValues(endpoint).Observe(latency.Seconds())
}

// round counts a finished round; a nil liveness counts nothing.
func (l *liveness) round(ok bool) {
	if l == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "failed"
	}
	l.rounds.WithLabelValues(result).Inc()
}

// serve listens on addr and serves the probes and metrics until the returned stop.
func (l *liveness) serve(addr string, stdout io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !l.ready.Load() {
			http.Error(w, "seeding", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(l.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stdout, "serving probes:", err)
		}
	}()
	fmt.Fprintf(stdout, "serving /livez, /readyz and /metrics on http://%s\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
