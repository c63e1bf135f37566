package feed

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Read sources, the label of feed_reads_total.
const (
	SourceRedis    = "redis"    // the timeline was in Redis
	SourceRebuild  = "rebuild"  // the timeline was missing and rebuilt from the read model
	SourceFallback = "fallback" // Redis failed: the page came from the read model alone
)

// Metrics are the feed's domain counters.
type Metrics struct {
	fanoutWrites   prometheus.Counter
	rebuilds       prometheus.Counter
	reads          *prometheus.CounterVec
	fanoutDuration prometheus.Histogram
	taskFailures   prometheus.Counter
}

// NewMetrics registers the metrics in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		fanoutWrites: prometheus.NewCounter(prometheus.CounterOpts{Name: "feed_fanout_writes_total",
			Help: "Timeline writes made by fan-out on write (one per follower timeline per post)."}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "feed_timeline_rebuilds_total",
			Help: "Home timelines rebuilt from the read model because Redis did not have them."}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "feed_reads_total",
			Help: "Home feed pages served, by where the timeline came from."}, []string{"source"}),
		fanoutDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "feed_fanout_duration_seconds",
			Help:    "Time to fan one post out to its author's followers.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}),
		taskFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "feed_timeline_task_failures_total",
			Help: "Timeline tasks that failed and wait for a retry (Redis or the database down)."}),
	}
	for _, s := range []string{SourceRedis, SourceRebuild, SourceFallback} {
		m.reads.WithLabelValues(s)
	}
	for _, c := range []prometheus.Collector{m.fanoutWrites, m.rebuilds, m.reads, m.fanoutDuration, m.taskFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register feed metrics: %w", err)
		}
	}
	return m, nil
}
