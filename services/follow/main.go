// Command follow is instant's follow-graph service: follow and unfollow, follower and
// following lists, counts, and the follow.* events the feed builds timelines from.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"instant/platform/service"
	"instant/services/follow/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends: configuration, process, the app (store, auth client, core,
// routes), then the public and internal servers with a draining shutdown.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("follow", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, proc)
	if err != nil {
		return err
	}
	defer a.close()
	return proc.Serve(ctx, cfg.Base, a.handler, nil)
}
