package main

import (
	"context"
	"log/slog"
	"net/http"

	"gorm.io/gorm"

	"instant/platform/client"
	"instant/platform/database"
	"instant/platform/discovery"
	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/services/comments/internal/comment"
	"instant/services/comments/internal/commentdb"
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

	log       *slog.Logger
	db        *gorm.DB
	producer  *events.Producer
	resolver  discovery.Resolver
	stopRelay context.CancelFunc
	relayDone chan struct{}
}

// newApp connects the database, migrates it, starts the outbox relay, builds the posts
// client and the router. On error it releases whatever it had opened.
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
	if err := database.Migrate(ctx, a.db, "comments", commentdb.Migrations()); err != nil {
		return nil, err
	}
	a.producer, err = events.NewProducer(cfg.Brokers, "comments", proc.Log, proc.Registry)
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
	svc := comment.NewService(commentdb.New(a.db, cfg.EventsTopic, relay.Notify), posts, metrics)

	// Readiness covers what this instance owns. posts is left out on purpose: it is
	// asked per request and its absence answers 503 there, while failing readiness on it
	// would pull every comments instance out of rotation during a posts outage, taking
	// comment removals by their authors (which need no posts) down with it.
	proc.Health.Add("database", database.Ping(a.db))
	proc.Health.Add("kafka", a.producer.Ping)

	router := proc.Router(signer.Middleware)
	commenthttp.Routes(router, commenthttp.NewHandler(svc, proc.Log))
	a.handler = router
	return a, nil
}

// close stops the relay and closes the clients in the reverse order of opening.
func (a *app) close() {
	if a.resolver != nil {
		if err := a.resolver.Close(); err != nil {
			a.log.Warn("closing discovery", "err", err)
		}
	}
	if a.stopRelay != nil {
		a.stopRelay()
		<-a.relayDone
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
