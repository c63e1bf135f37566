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

	"instant/platform/service"
	"instant/services/posts/internal/config"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
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
