// Command posts is instant's post service: photo posts (a caption and an image its
// author uploaded through files), their hashtags and mentions, and the lists of posts
// clients page through.
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
	"instant/services/posts/internal/config"
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
		fmt.Fprintln(os.Stderr, "usage: posts [migrate]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends: configuration, process, the app (stores, clients, core,
// routes, background workers), then the public and internal servers with a draining
// shutdown.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("posts", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, proc)
	if err != nil {
		return err
	}
	defer a.close()
	proc.Log.Info("serving posts", "version", version, "post_events_topic", cfg.PostEventsTopic)
	return proc.Serve(ctx, cfg.Base, a.handler, nil)
}

// migrate applies the database migrations and returns: what newApp does first, alone, so
// a release's schema is in place before its pods start. The service still migrates at
// start too; the advisory lock lets both run at once.
func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("posts", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
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
