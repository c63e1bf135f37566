// Command email sends the product's emails. It consumes email requests from Kafka, renders
// them from the templates it carries, hands them to an SMTP server and records each one it
// sent, so a redelivered request is not sent twice. It has no public routes; its HTTP
// server answers the probes, and the internal one serves metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/service"
	"instant/services/email/internal/config"
	"instant/services/email/internal/deliverydb"
	"instant/services/email/internal/emailkafka"
	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtp"
)

// consumerGroup is the Kafka consumer group of every email replica: the partitions of the
// request topic are shared among them, and committed offsets outlive each one.
const consumerGroup = "email"

// pruneInterval is how often deliveries older than the retention are deleted.
const pruneInterval = time.Hour

// version is stamped at build time (-ldflags "-X main.version=..."); the one package
// variable, because the linker can set nothing else.
var version = "dev"

// main serves, or with the argument `migrate` applies the database migrations and exits
// (the chart's hook Job before each install and upgrade).
func main() {
	cmd := run
	switch args := os.Args[1:]; {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "migrate":
		cmd = migrate
	default:
		fmt.Fprintln(os.Stderr, "usage: email [migrate]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run builds the service and runs it until ctx ends: the HTTP servers and the consumer
// side by side. When either stops on its own, the other is stopped too and run returns.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("email", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	log := proc.Log

	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{Log: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := database.Close(db); err != nil {
			log.Warn("close database", "err", err)
		}
	}()
	if err := deliverydb.Migrate(ctx, db); err != nil {
		return err
	}
	store := deliverydb.New(db)

	templates, err := mail.NewTemplates()
	if err != nil {
		return err
	}
	sender, err := smtp.New(smtp.Config{
		Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, TLS: smtp.TLSMode(cfg.SMTPTLS), Timeout: cfg.SMTPTimeout, Log: log,
	})
	if err != nil {
		return err
	}
	handler, err := emailkafka.New(emailkafka.Config{
		Templates: templates, Sender: sender, Deliveries: store, Log: log, Registerer: proc.Registry,
	})
	if err != nil {
		return err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Conn: events.Conn(cfg.Kafka), Group: consumerGroup, Topics: []string{cfg.Topic}, DLQTopic: cfg.DLQTopic,
		MaxAttempts: cfg.MaxAttempts, Backoff: cfg.RetryBackoff, MaxBackoff: cfg.RetryMaxBackoff,
		Log: log, Registerer: proc.Registry,
	}, handler.Handle)
	if err != nil {
		return err
	}
	// Run closes the consumer when it returns; this covers a return before it ran.
	defer consumer.Close()

	// Readiness covers what the consumer needs to make progress. The SMTP server is left
	// out on purpose: an unready pod receives no traffic, but this one has no traffic to
	// receive, and the consumer already retries and dead-letters around an SMTP outage.
	proc.Health.Add("kafka", consumer.Ping)
	proc.Health.Add("database", database.Ping(db))
	router := proc.Router() // probes only: the service has no public routes

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                   sync.WaitGroup
		serveErr, consumeErr error
	)
	wg.Go(func() {
		defer cancel()
		serveErr = proc.Serve(ctx, cfg.Base, router, nil)
	})
	wg.Go(func() {
		defer cancel()
		consumeErr = consumer.Run(ctx)
		if consumeErr == nil && ctx.Err() == nil {
			consumeErr = errors.New("email consumer stopped unexpectedly")
		}
	})
	wg.Go(func() { store.PruneEvery(ctx, pruneInterval, cfg.DedupRetention, log) })
	log.Info("consuming email requests", "version", version, "topic", cfg.Topic, "dlq", cfg.DLQTopic, "group", consumerGroup)
	wg.Wait()
	return errors.Join(serveErr, consumeErr)
}

// migrate applies the database migrations and returns: what run does first, alone, so a
// release's schema is in place before its pods start. The service still migrates at
// start too; the advisory lock lets both run at once.
func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("email", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{Log: proc.Log})
	if err != nil {
		return err
	}
	defer func() {
		if err := database.Close(db); err != nil {
			proc.Log.Warn("closing database", "err", err)
		}
	}()
	if err := deliverydb.Migrate(ctx, db); err != nil {
		return err
	}
	proc.Log.Info("database migrated", "version", version)
	return nil
}
