package follow

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the domain counters of the follow graph: follows that really began or
// ended. Repeated follows and unfollows that changed nothing are not counted.
type Metrics struct {
	created prometheus.Counter
	deleted prometheus.Counter
}

// NewMetrics registers the counters in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "follows_created_total", Help: "Follows begun."}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "follows_deleted_total", Help: "Follows ended."}),
	}
	for _, c := range []prometheus.Collector{m.created, m.deleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register follow metrics: %w", err)
		}
	}
	return m, nil
}
