package file

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an object is deleted, the values of files_deleted_total's reason label.
const (
	ReasonOwner       = "owner"        // the owner deleted it through the API
	ReasonPostDeleted = "post_deleted" // its post was deleted
	ReasonUserDeleted = "user_deleted" // its owner's account was deleted
	ReasonUnused      = "unused"       // uploaded, never posted (posts' sweep)
)

// Metrics are the domain counters of the files service.
type Metrics struct {
	uploadURLs   prometheus.Counter
	downloadURLs prometheus.Counter
	deleted      *prometheus.CounterVec
}

// NewMetrics registers the counters in reg, every reason at zero so that a rate over a
// quiet period reads 0 rather than no data.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		uploadURLs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "files_upload_urls_total", Help: "Presigned upload URLs handed out.",
		}),
		downloadURLs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "files_download_urls_total", Help: "Presigned download URLs handed out (download-url answers and redirects).",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "files_deleted_total", Help: "Objects deleted, by reason (owner, post_deleted, user_deleted, unused).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.uploadURLs, m.downloadURLs, m.deleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register files metrics: %w", err)
		}
	}
	for _, r := range []string{ReasonOwner, ReasonPostDeleted, ReasonUserDeleted, ReasonUnused} {
		m.deleted.WithLabelValues(r)
	}
	return m, nil
}
