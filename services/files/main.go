// Command files is instant's file service. It hands out short-lived presigned S3 URLs so
// clients upload and download image bytes straight to the object store (nothing streams
// through the service), keeps every object under its owner's prefix so ownership is read
// from the key, and deletes objects when their post or their owner's account goes.
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

	"instant/platform/service"
	"instant/services/files/internal/config"
)

// version is stamped at build time (-ldflags "-X main.version=..."); the one package
// variable, because the linker can set nothing else.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends: configuration, process, the app (store, core, consumer,
// routes), then the HTTP servers and the event consumer side by side. When either stops
// on its own, the other is stopped too and run returns.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, proc, err := service.Start("files", getenv, stdout, func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, proc)
	if err != nil {
		return err
	}
	defer a.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                   sync.WaitGroup
		serveErr, consumeErr error
	)
	wg.Go(func() {
		defer cancel()
		serveErr = proc.Serve(ctx, cfg.Base, a.handler, nil)
	})
	wg.Go(func() {
		defer cancel()
		consumeErr = a.consumer.Run(ctx)
		if consumeErr == nil && ctx.Err() == nil {
			consumeErr = errors.New("files consumer stopped unexpectedly")
		}
	})
	proc.Log.Info("serving files", "version", version, "bucket", cfg.S3Bucket,
		"topics", []string{cfg.PostEventsTopic, cfg.UserEventsTopic}, "dlq", cfg.DLQTopic, "group", consumerGroup)
	wg.Wait()
	return errors.Join(serveErr, consumeErr)
}
