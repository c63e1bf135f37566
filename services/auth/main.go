// Command auth is instant's account service: passwordless sign-in with one-time codes
// sent by email, sessions, account changes and deletion, and public profile reads.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"instant/platform/service"
	"instant/services/auth/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends: configuration, process, the app (stores, core, routes),
// then the public and internal servers with a draining shutdown.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("auth", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
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
