package post

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the domain counters of posts.
type Metrics struct {
	created prometheus.Counter
	updated prometheus.Counter
	deleted prometheus.Counter
	// The sweep of uploads no post uses.
	unusedRemoved prometheus.Counter
	sweeps        *prometheus.CounterVec
}

// NewMetrics registers the counters in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_created_total", Help: "Posts created."}),
		updated: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_updated_total", Help: "Posts whose caption changed."}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_deleted_total", Help: "Posts deleted."}),
		unusedRemoved: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_unused_images_removed_total",
			Help: "Uploaded images no post used, removed by the sweep."}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posts_image_sweeps_total",
			Help: "Sweeps of unused uploads, by result (ok, failed)."}, []string{"result"}),
	}
	m.sweeps.WithLabelValues("ok")
	m.sweeps.WithLabelValues("failed")
	for _, c := range []prometheus.Collector{m.created, m.updated, m.deleted, m.unusedRemoved, m.sweeps} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register posts metrics: %w", err)
		}
	}
	return m, nil
}
