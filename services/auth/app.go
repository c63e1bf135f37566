package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/session"
	"instant/services/auth/internal/authhttp"
	"instant/services/auth/internal/coderedis"
	"instant/services/auth/internal/config"
	"instant/services/auth/internal/user"
	"instant/services/auth/internal/userdb"
	"instant/services/auth/internal/userevents"
)

// app is the service minus its servers: what run serves and what tests call, so that
// the handler under test is the one that ships.
type app struct {
	handler http.Handler

	log      *slog.Logger
	db       *gorm.DB
	rdb      *redis.Client
	producer *events.Producer
	workers  *service.Workers // the outbox relay
}

// redisDialTimeout bounds connecting to Redis, so a Redis that is gone costs a request a
// quick 503 rather than a long wait.
const redisDialTimeout = 2 * time.Second

// newApp connects the stores, migrates the database, starts the outbox relay and builds
// the router. On error it releases whatever it had opened.
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
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if ropt.DialTimeout == 0 {
		ropt.DialTimeout = redisDialTimeout
	}
	a.rdb = redis.NewClient(ropt)
	a.producer, err = events.NewProducer(events.Conn(cfg.Kafka), "auth", proc.Log, proc.Registry)
	if err != nil {
		return nil, err
	}
	relay, err := events.NewRelay(a.db, a.producer, proc.Log, proc.Registry, events.RelayOptions{})
	if err != nil {
		return nil, err
	}
	// The relay stops in close, after the servers have drained (service.Workers).
	a.workers = service.NewWorkers(ctx, proc.Log)
	a.workers.Go("outbox relay", relay.Run)

	metrics, err := user.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	svc := user.NewService(
		userdb.New(a.db, cfg.UserEventsTopic, cfg.EmailTopic, relay.Notify),
		coderedis.New(a.rdb, cfg.CodeKey(), user.CodeTTL, user.MaxCodeAttempts),
		userevents.NewMailer(a.producer, cfg.EmailTopic, cfg.EmailPublishTimeout),
		session.NewStore(a.rdb, cfg.SessionIdleTimeout, cfg.SessionLifetime),
		metrics, proc.Log,
	)
	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		return nil, err
	}

	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("redis", func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() })
	proc.Health.Add("kafka", a.producer.Ping)

	router := proc.Router()
	router.Group(func(r chi.Router) {
		r.Use(signer.Middleware)
		authhttp.Routes(r, authhttp.NewHandler(svc, proc.Log, cfg.CookieSecure))
	})
	a.handler = router
	return a, nil
}

// migrateDB brings the database to the current schema: at start, and alone in
// `auth migrate`.
func migrateDB(ctx context.Context, db *gorm.DB) error {
	return database.Migrate(ctx, db, "auth", userdb.Migrations())
}

// close stops the relay and closes the clients in the reverse order of opening.
func (a *app) close() {
	a.workers.Stop()
	if a.producer != nil {
		a.producer.Close()
	}
	var errs []error
	if a.rdb != nil {
		errs = append(errs, a.rdb.Close())
	}
	if a.db != nil {
		errs = append(errs, database.Close(a.db))
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("closing clients", "err", err)
	}
}
