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
}

// NewMetrics registers the counters in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_created_total", Help: "Posts created."}),
		updated: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_updated_total", Help: "Posts whose caption changed."}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "posts_deleted_total", Help: "Posts deleted."}),
	}
	for _, c := range []prometheus.Collector{m.created, m.updated, m.deleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register posts metrics: %w", err)
		}
	}
	return m, nil
}
