package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/services/files/internal/config"
	"instant/services/files/internal/file"
	"instant/services/files/internal/fileevents"
	"instant/services/files/internal/filehttp"
	"instant/services/files/internal/files3"
)

// consumerGroup is the Kafka consumer group of every files replica: the partitions of
// post.events and user.events are shared among them, and committed offsets outlive each.
const consumerGroup = "files"

// app is the service minus its servers: what run serves and what tests call, so that the
// handler under test is the one that ships. The service keeps no database: S3 is its
// only state, and its event effects (deletes) are idempotent by nature.
type app struct {
	handler  http.Handler
	consumer *events.Consumer
	log      *slog.Logger
}

// newApp builds the store (creating the bucket if it is missing), the core, the event
// consumer (not yet running) and the router. On error it releases what it had opened.
func newApp(ctx context.Context, cfg config.Config, proc *service.Process) (*app, error) {
	store, err := files3.New(cfg.Store())
	if err != nil {
		return nil, err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	if len(cfg.S3CORSOrigins) > 0 {
		if err := store.SetCORS(ctx, cfg.S3CORSOrigins); err != nil {
			return nil, err
		}
	}
	metrics, err := file.NewMetrics(proc.Registry)
	if err != nil {
		return nil, err
	}
	svc := file.NewService(store, metrics, file.Options{
		UploadTTL: cfg.UploadURLTTL, DownloadTTL: cfg.DownloadURLTTL, MaxUploadBytes: cfg.MaxUploadBytes,
	})
	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		return nil, err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: consumerGroup,
		Topics: []string{cfg.PostEventsTopic, cfg.UserEventsTopic}, DLQTopic: cfg.DLQTopic,
		Log: proc.Log, Registerer: proc.Registry,
	}, fileevents.New(svc, proc.Log).Handle)
	if err != nil {
		return nil, err
	}

	proc.Health.Add("s3", store.Ping)
	proc.Health.Add("kafka", consumer.Ping)

	router := proc.Router()
	router.Group(func(r chi.Router) {
		r.Use(signer.Middleware)
		filehttp.Routes(r, filehttp.NewHandler(svc, proc.Log))
	})
	return &app{handler: router, consumer: consumer, log: proc.Log}, nil
}

// close releases the consumer's clients; Run does it too when it returns, and closing
// twice is safe.
func (a *app) close() {
	a.consumer.Close()
}
