// Command fakesvc stands in for a service binary in the stack's tests: it serves
// /readyz and /env (its environment as JSON, plus its pid and working directory) on
// HTTP_ADDR, /metrics on INTERNAL_ADDR, logs a line, and exits 0 on SIGTERM.
// FAKESVC_FAIL makes it exit at once with status 3 after printing the value, as a
// service with a bad config would.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if msg := os.Getenv("FAKESVC_FAIL"); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		env["FAKESVC_PID"] = fmt.Sprint(os.Getpid())
		env["FAKESVC_WD"], _ = os.Getwd()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(env)
	})
	internal := http.NewServeMux()
	internal.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "up 1") })

	srv := &http.Server{Addr: os.Getenv("HTTP_ADDR"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	isrv := &http.Server{Addr: os.Getenv("INTERNAL_ADDR"), Handler: internal, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	go func() { errc <- isrv.ListenAndServe() }()
	fmt.Printf("{\"msg\":\"listening\",\"addr\":%q}\n", srv.Addr)

	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range []*http.Server{srv, isrv} {
		if err := s.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
		}
	}
	fmt.Println(`{"msg":"stopped"}`)
}
