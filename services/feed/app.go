package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/tombstone"
	"instant/services/feed/internal/config"
	"instant/services/feed/internal/feed"
	"instant/services/feed/internal/feeddb"
	"instant/services/feed/internal/feedevents"
	"instant/services/feed/internal/feedhttp"
	"instant/services/feed/internal/feedredis"
)

// taskRetry is how often queued timeline tasks are retried while Redis is away.
const taskRetry = 2 * time.Second

// Processed-event marks are kept for processedRetention, far beyond how long Kafka keeps
// a record (seven days by default) and so the longest an event can come back, and
// pruned every pruneEvery: feed marks every event it reads, likes included.
const (
	processedRetention = 30 * 24 * time.Hour
	pruneEvery         = time.Hour
)

// app is the service minus its servers: what run serves and what tests call, so that
// the handler under test is the one that ships.
type app struct {
	handler http.Handler

	log       *slog.Logger
	db        *gorm.DB
	rdb       *redis.Client
	projector *feed.Projector
	workers   *service.Workers // the event consumer, the timeline tasks, the pruning
}

// newApp connects the stores, migrates the database, starts the event consumer and the
// timeline task runner, and builds the router. On error it releases whatever it had
// opened.
func newApp(ctx context.Context, cfg config.Config, proc *service.Process) (_ *app, err error) {
	a := &app{log: proc.Log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	// Custom plans: follow counts are skewed by design (a viewer follows ten accounts or
	// ten thousand), and a generic plan picked for one is ruinous for the other.
	a.db, err = database.Open(ctx, cfg.DatabaseURL, database.Options{Log: proc.Log, CustomPlans: true})
	if err != nil {
		return nil, err
	}
	if err := migrateDB(ctx, a.db); err != nil {
		return nil, err
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts unless the URL sets its own: a Redis that is gone must cost a read
	// a quick fallback to the read model.
	for _, d := range []*time.Duration{&ropt.DialTimeout, &ropt.ReadTimeout, &ropt.WriteTimeout} {
		if *d == 0 {
			*d = cfg.RedisTimeout
		}
	}
	a.rdb = redis.NewClient(ropt)

	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		return nil, err
	}
	metrics, err := feed.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	opt := feed.Options{Cap: cfg.TimelineCap, Threshold: cfg.CelebrityThreshold, Backfill: cfg.Backfill}
	store := feeddb.New(a.db)
	timelines := feedredis.New(a.rdb, cfg.TimelineCap, cfg.TimelineTTL)
	a.projector = feed.NewProjector(store, timelines, opt, metrics, proc.Log)
	svc := feed.NewService(store, timelines, opt, metrics, proc.Log)

	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: feedevents.Consumer, Topics: cfg.Topics(),
		DLQTopic: cfg.DLQTopic, Log: proc.Log, Registerer: proc.Registry,
	}, feedevents.Handler(a.projector))
	if err != nil {
		return nil, err
	}
	// The workers stop in close, after the servers have drained (service.Workers).
	a.workers = service.NewWorkers(ctx, proc.Log)
	a.workers.Go("event consumer", consumer.Run)
	a.workers.Go("timeline tasks", func(ctx context.Context) error {
		a.projector.Run(ctx, taskRetry)
		return nil
	})
	a.workers.Go("pruning", func(ctx context.Context) error {
		prune(ctx, a.db, proc.Log)
		return nil
	})

	// Redis is left out of readiness on purpose: without it the feed still answers every
	// read from the read model, and timeline writes wait in their queue.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", consumer.Ping)

	router := proc.Router(signer.Middleware)
	feedhttp.Routes(router, feedhttp.NewHandler(svc, proc.Log))
	a.handler = router
	return a, nil
}

// prune deletes old processed-event marks and tombstones every pruneEvery until ctx ends.
func prune(ctx context.Context, db *gorm.DB, log *slog.Logger) {
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := events.PruneProcessed(ctx, db, processedRetention)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "pruning processed-event marks", "err", err)
		case n > 0:
			log.InfoContext(ctx, "pruned processed-event marks", "count", n)
		}
		// The read model's tombstones keep a late event from bringing back what was
		// deleted; past the marks' retention no event can come late enough.
		n, err = tombstone.Prune(db)(ctx, time.Now().Add(-processedRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "pruning tombstones", "err", err)
		case n > 0:
			log.InfoContext(ctx, "pruned tombstones", "count", n)
		}
	}
}

// migrateDB brings the database to the current schema: at start, and alone in
// `feed migrate`.
func migrateDB(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, "feed", feeddb.Migrations())
}

// close stops the workers and closes the clients in the reverse order of opening.
func (a *app) close() {
	a.workers.Stop()
	if a.rdb != nil {
		if err := a.rdb.Close(); err != nil {
			a.log.Warn("closing redis", "err", err)
		}
	}
	if a.db != nil {
		if err := database.Close(a.db); err != nil {
			a.log.Warn("closing database", "err", err)
		}
	}
}
