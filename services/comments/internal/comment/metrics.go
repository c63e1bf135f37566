package comment

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the domain counters of comments, and how post lookups were answered.
type Metrics struct {
	created     prometheus.Counter
	deleted     prometheus.Counter
	postLookups *prometheus.CounterVec
	// The two post_lookups_total series, resolved once: they are on every request's path.
	fromCache, fromPosts prometheus.Counter
}

// Sources of a post lookup, the values of post_lookups_total's source label.
const (
	sourceCache = "cache"
	sourcePosts = "posts"
)

// NewMetrics registers the counters in reg, every label value at zero so that a rate
// over a quiet period reads 0 rather than no data.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "comments_created_total", Help: "Comments created."}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "comments_deleted_total", Help: "Comments deleted."}),
		postLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "post_lookups_total", Help: "Post lookups, by where the answer came from (cache, posts).",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.created, m.deleted, m.postLookups} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register comments metrics: %w", err)
		}
	}
	m.fromCache = m.postLookups.WithLabelValues(sourceCache)
	m.fromPosts = m.postLookups.WithLabelValues(sourcePosts)
	return m, nil
}
