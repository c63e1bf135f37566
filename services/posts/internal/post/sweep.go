package post

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// Sweeper removes uploaded images that no post uses: a client that asked for an upload
// URL and put an image but never posted it (an abandoned draft, a failed post) leaves
// the image in the bucket, where nothing else would ever delete it.
//
// An upload is an orphan once it is older than twice the longest a post may wait for its
// image (Service's maxImageAge) and no post names it. Creating a post refuses an image
// older than maxImageAge, so any post that will ever use an image was committed long
// before the sweep can see the image as old enough to go: the sweep never races a post.
type Sweeper struct {
	store   Store
	uploads Uploads
	age     time.Duration
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
}

// NewSweeper sweeps uploads older than 2 × maxImageAge.
func NewSweeper(store Store, uploads Uploads, maxImageAge time.Duration, m *Metrics, log *slog.Logger) *Sweeper {
	return &Sweeper{store: store, uploads: uploads, age: 2 * maxImageAge, metrics: m, log: log, now: time.Now}
}

// Sweep goes through the uploads once and removes the unused ones; it returns how many.
// What it removed before a failure stays removed; the next sweep goes on from the start.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	before := s.now().Add(-s.age)
	removed, after := 0, ""
	for {
		keys, next, err := s.uploads.ListUploads(ctx, before, after)
		if err != nil {
			return removed, fmt.Errorf("sweep: list uploads: %w", err)
		}
		if len(keys) > 0 {
			used, err := s.store.UsedImageKeys(ctx, keys)
			if err != nil {
				return removed, fmt.Errorf("sweep: %w", err)
			}
			unused := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(used, k) })
			if len(unused) > 0 {
				n, err := s.uploads.RemoveUploads(ctx, unused)
				removed += n
				s.metrics.unusedRemoved.Add(float64(n))
				if err != nil {
					return removed, fmt.Errorf("sweep: remove uploads: %w", err)
				}
			}
		}
		if next == "" {
			return removed, nil
		}
		after = next
	}
}

// Run sweeps every interval until ctx ends, the first time after a random part of the
// interval, so replicas started together do not sweep together.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	wait := time.Duration(rand.Int64N(int64(interval)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = interval
		n, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.metrics.sweeps.WithLabelValues("failed").Inc()
			s.log.WarnContext(ctx, "sweep of unused uploads failed", "removed", n, "err", err)
		default:
			s.metrics.sweeps.WithLabelValues("ok").Inc()
			s.log.InfoContext(ctx, "unused uploads swept", "removed", n)
		}
	}
}
