// Command feed is instant's feed service: home timelines, explore and profile pages,
// served from a read model that the other services' events build (posts, people, the
// follow graph, like and comment counts) and from timelines kept in Redis.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"instant/platform/database"
	"instant/platform/service"
	"instant/services/feed/internal/config"
)

// version is stamped at build time (-ldflags "-X main.version=...").
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
		fmt.Fprintln(os.Stderr, "usage: feed [migrate]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends: configuration, process, the app (stores, consumer, task
// runner, routes), then the public and internal servers with a draining shutdown.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("feed", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	proc.Log.Info("starting", "version", version)
	a, err := newApp(ctx, cfg, proc)
	if err != nil {
		return err
	}
	defer a.close()
	return proc.Serve(ctx, cfg.Base, a.handler, nil)
}

// migrate applies the database migrations and returns: what newApp does first, alone, so
// a release's schema is in place before its pods start. The service still migrates at
// start too; the advisory lock lets both run at once.
func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("feed", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
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
	if err := migrateDB(ctx, db); err != nil {
		return err
	}
	proc.Log.Info("database migrated", "version", version)
	return nil
}
