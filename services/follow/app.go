package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"gorm.io/gorm"

	"instant/platform/client"
	"instant/platform/database"
	"instant/platform/discovery"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/tombstone"
	"instant/services/follow/internal/config"
	"instant/services/follow/internal/follow"
	"instant/services/follow/internal/followdb"
	"instant/services/follow/internal/followevents"
	"instant/services/follow/internal/followhttp"
	"instant/services/follow/internal/userclient"
)

// app is the service minus its servers: what run serves and what tests call, so that
// the handler under test is the one that ships.
type app struct {
	handler http.Handler

	log      *slog.Logger
	db       *gorm.DB
	producer *events.Producer
	resolver discovery.Resolver
	workers  *service.Workers // the outbox relay, the user.deleted consumer
}

// newApp connects the database, migrates it, starts the outbox relay and the
// user.deleted consumer, finds auth and builds the router. On error it releases
// whatever it had opened.
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
	a.producer, err = events.NewProducer(events.Conn(cfg.Kafka), "follow", proc.Log, proc.Registry)
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
	store := followdb.New(a.db, cfg.EventsTopic, relay.Notify)
	handler, err := followevents.NewHandler(store, proc.Registry, proc.Log)
	if err != nil {
		return nil, err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: followevents.Consumer, Topics: []string{cfg.UserEventsTopic},
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
	a.resolver, err = cfg.Discovery.Resolver(ctx, cfg.Base, []string{"auth"}, proc.Log)
	if err != nil {
		return nil, err
	}
	users := userclient.New(client.New("auth", a.resolver, signer, cfg.AuthTimeout), cfg.UserCacheTTL, config.UserCacheSize)

	metrics, err := follow.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	svc := follow.NewService(store, users, metrics)

	// Auth is not a readiness dependency: only follow needs it, and an auth outage
	// answers those 503 while unfollows, lists and counts keep working. Failing
	// readiness on it would take all of them down with it.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", a.producer.Ping)
	proc.Health.Add("kafka_consumer", consumer.Ping)

	router := proc.Router()
	router.Group(func(r chi.Router) {
		r.Use(signer.Middleware)
		followhttp.Routes(r, followhttp.NewHandler(svc, proc.Log))
	})
	a.handler = router
	return a, nil
}

// migrateDB brings the database to the current schema: at start, and alone in
// `follow migrate`.
func migrateDB(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, "follow", followdb.Migrations())
}

// close stops the workers and closes the clients in the reverse order of opening.
func (a *app) close() {
	a.workers.Stop()
	var errs []error
	if a.resolver != nil {
		errs = append(errs, a.resolver.Close())
	}
	if a.producer != nil {
		a.producer.Close()
	}
	if a.db != nil {
		errs = append(errs, database.Close(a.db))
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("closing clients", "err", err)
	}
}
