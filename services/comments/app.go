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
	"instant/services/comments/internal/comment"
	"instant/services/comments/internal/commentdb"
	"instant/services/comments/internal/commentevents"
	"instant/services/comments/internal/commenthttp"
	"instant/services/comments/internal/config"
)

// postCacheSize bounds the post cache: at about 150 bytes an entry, 10,000 posts (every
// post commented on within one TTL, on a busy instance) is 1.5 MB.
const postCacheSize = 10_000

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

// newApp connects the database, migrates it, starts the outbox relay and the events
// consumer (post.deleted, user.deleted), builds the posts client and the router. On
// error it releases whatever it had opened.
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
	a.producer, err = events.NewProducer(events.Conn(cfg.Kafka), "comments", proc.Log, proc.Registry)
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
	store := commentdb.New(a.db, cfg.EventsTopic, relay.Notify)
	handler, err := commentevents.NewHandler(store, proc.Registry, proc.Log)
	if err != nil {
		return nil, err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: commentevents.Consumer, Topics: cfg.ConsumedTopics(),
		DLQTopic: cfg.DLQTopic, Log: proc.Log, Registerer: proc.Registry,
	}, handler.Handle)
	if err != nil {
		return nil, err
	}
	// The workers stop in close, after the servers have drained (service.Workers).
	a.workers = service.NewWorkers(ctx, proc.Log)
	a.workers.Go("outbox relay", relay.Run)
	a.workers.Go("events consumer", consumer.Run)

	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		return nil, err
	}
	a.resolver, err = cfg.Resolver(ctx, cfg.Base, []string{"posts"}, proc.Log)
	if err != nil {
		return nil, err
	}
	metrics, err := comment.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	posts := comment.NewPostCache(postsAPI{client.New("posts", a.resolver, signer, cfg.PostsTimeout)},
		cfg.PostCacheTTL, postCacheSize, metrics)
	svc := comment.NewService(store, posts, metrics)

	// Readiness covers what this instance owns. posts is left out on purpose: it is
	// asked per request and its absence answers 503 there, while failing readiness on it
	// would pull every comments instance out of rotation during a posts outage, taking
	// comment removals by their authors (which need no posts) down with it.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", a.producer.Ping)
	proc.Health.Add("kafka_consumer", consumer.Ping)

	router := proc.Router(signer.Middleware)
	commenthttp.Routes(router, commenthttp.NewHandler(svc, proc.Log))
	a.handler = router
	return a, nil
}

// migrateDB brings the database to the current schema: at start, and alone in
// `comments migrate`.
func migrateDB(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, "comments", commentdb.Migrations())
}

// close stops the workers and closes the clients in the reverse order of opening.
func (a *app) close() {
	if a.resolver != nil {
		if err := a.resolver.Close(); err != nil {
			a.log.Warn("closing discovery", "err", err)
		}
	}
	a.workers.Stop()
	if a.producer != nil {
		a.producer.Close()
	}
	if a.db != nil {
		if err := database.Close(a.db); err != nil {
			a.log.Warn("closing database", "err", err)
		}
	}
}
