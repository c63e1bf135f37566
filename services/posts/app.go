package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"gorm.io/gorm"

	"instant/platform/client"
	"instant/platform/database"
	"instant/platform/discovery"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/tombstone"
	"instant/services/posts/internal/config"
	"instant/services/posts/internal/post"
	"instant/services/posts/internal/postdb"
	"instant/services/posts/internal/postevents"
	"instant/services/posts/internal/postfiles"
	"instant/services/posts/internal/posthttp"
)

// app is the service minus its servers: what run serves and what tests call, so that
// the handler under test is the one that ships.
type app struct {
	handler http.Handler

	log      *slog.Logger
	db       *gorm.DB
	producer *events.Producer
	resolver discovery.Resolver
	workers  *service.Workers // the outbox relay, the events consumer
}

// newApp connects the stores, migrates the database, starts the outbox relay and the
// events consumer (user.*, like.*, comment.*) and builds the router. On error it
// releases whatever it had opened.
func newApp(ctx context.Context, cfg config.Config, proc *service.Process) (_ *app, err error) {
	a := &app{log: proc.Log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	a.db, err = database.Open(ctx, cfg.DatabaseURL, database.Options{Log: proc.Log})
	if err != nil {
		return nil, err
	}
	if err := migrateDB(ctx, a.db); err != nil {
		return nil, err
	}
	a.producer, err = events.NewProducer(events.Conn(cfg.Kafka), "posts", proc.Log, proc.Registry)
	if err != nil {
		return nil, err
	}
	relay, err := events.NewRelay(a.db, a.producer, proc.Log, proc.Registry, events.RelayOptions{
		// Deletion tombstones are kept as long as the processed-event marks.
		AlsoPrune: []func(context.Context, time.Time) (int64, error){tombstone.Prune(a.db)},
	})
	if err != nil {
		return nil, err
	}
	store := postdb.New(a.db, cfg.PostEventsTopic, relay.Notify)
	handler, err := postevents.NewHandler(store, proc.Registry, proc.Log)
	if err != nil {
		return nil, err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: postevents.Consumer, Topics: cfg.ConsumedTopics(),
		DLQTopic: cfg.DLQTopic, Log: proc.Log, Registerer: proc.Registry,
	}, handler.Handle)
	if err != nil {
		return nil, err
	}
	// The workers stop in close, after the servers have drained (service.Workers).
	a.workers = service.NewWorkers(ctx, proc.Log)
	a.workers.Go("outbox relay", relay.Run)
	a.workers.Go("events consumer", consumer.Run)

	a.resolver, err = cfg.Discovery.Resolver(ctx, cfg.Base, []string{postfiles.Service}, proc.Log)
	if err != nil {
		return nil, err
	}
	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		return nil, err
	}
	files := postfiles.New(client.New(postfiles.Service, a.resolver, signer, cfg.FilesTimeout))

	metrics, err := post.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	svc := post.NewService(store, files, metrics, cfg.MaxImageBytes, cfg.ImageMaxAge)
	if cfg.ImageSweepInterval > 0 {
		sweeper := post.NewSweeper(store, files, cfg.ImageMaxAge, metrics, proc.Log)
		a.workers.Go("sweep of unused uploads", func(ctx context.Context) error {
			sweeper.Run(ctx, cfg.ImageSweepInterval)
			return nil
		})
	}

	// files is left out of readiness on purpose: without it posts still serves every
	// read, and only creating a post answers 503.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", a.producer.Ping)
	proc.Health.Add("kafka_consumer", consumer.Ping)

	router := proc.Router(signer.Middleware)
	posthttp.Routes(router, posthttp.NewHandler(svc, proc.Log))
	a.handler = router
	return a, nil
}

// migrateDB brings the database to the current schema: at start, and alone in
// `posts migrate`.
func migrateDB(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, "posts", postdb.Migrations())
}

// close stops the workers and closes the clients in the reverse order of opening.
func (a *app) close() {
	a.workers.Stop()
	if a.resolver != nil {
		if err := a.resolver.Close(); err != nil {
			a.log.Warn("closing discovery", "err", err)
		}
	}
	if a.producer != nil {
		a.producer.Close()
	}
	if a.db != nil {
		if err := database.Close(a.db); err != nil {
			a.log.Warn("closing database", "err", err)
		}
	}
}
