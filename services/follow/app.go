package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"gorm.io/gorm"

	"instant/platform/client"
	"instant/platform/database"
	"instant/platform/discovery"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/services/follow/internal/config"
	"instant/services/follow/internal/follow"
	"instant/services/follow/internal/followdb"
	"instant/services/follow/internal/followhttp"
	"instant/services/follow/internal/userclient"
)

// app is the service minus its servers: what run serves and what tests call, so that
// the handler under test is the one that ships.
type app struct {
	handler http.Handler

	log       *slog.Logger
	db        *gorm.DB
	producer  *events.Producer
	resolver  discovery.Resolver
	stopRelay context.CancelFunc
	relayDone chan struct{}
}

// newApp connects the database, migrates it, starts the outbox relay, finds auth and
// builds the router. On error it releases whatever it had opened.
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
	if err := database.Migrate(ctx, a.db, "follow", followdb.Migrations()); err != nil {
		return nil, err
	}
	a.producer, err = events.NewProducer(cfg.Brokers, "follow", proc.Log, proc.Registry)
	if err != nil {
		return nil, err
	}
	relay, err := events.NewRelay(a.db, a.producer, proc.Log, proc.Registry, events.RelayOptions{})
	if err != nil {
		return nil, err
	}
	// The relay outlives the request context of a shutdown's drain: it stops in close,
	// after the servers, so events committed by the last requests still leave promptly.
	relayCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRelay, a.relayDone = stop, make(chan struct{})
	go func() {
		defer close(a.relayDone)
		if err := relay.Run(relayCtx); err != nil {
			proc.Log.Error("outbox relay stopped", "err", err)
		}
	}()

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
	svc := follow.NewService(followdb.New(a.db, cfg.EventsTopic, relay.Notify), users, metrics)

	// Auth is not a readiness dependency: only follow needs it, and an auth outage
	// answers those 503 while unfollows, lists and counts keep working. Failing
	// readiness on it would take all of them down with it.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", a.producer.Ping)

	router := proc.Router()
	router.Group(func(r chi.Router) {
		r.Use(signer.Middleware)
		followhttp.Routes(r, followhttp.NewHandler(svc, proc.Log))
	})
	a.handler = router
	return a, nil
}

// close stops the relay and closes the clients in the reverse order of opening.
func (a *app) close() {
	if a.stopRelay != nil {
		a.stopRelay()
		<-a.relayDone
	}
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
