// Command gateway is instant's API gateway: session auth, identity injection, rate limits,
// CORS and routing to the services by a route table.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"instant/platform/service"
	"instant/services/gateway/internal/config"
	"instant/services/gateway/internal/gateway"
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

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("gateway", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	gw, err := gateway.New(ctx, cfg, proc, gateway.Table())
	if err != nil {
		return err
	}
	defer gw.Close()
	proc.Log.Info("gateway starting", "version", version, "discovery", cfg.DiscoveryMode)
	return proc.Serve(ctx, cfg.Base, gw.Handler(), nil)
}
