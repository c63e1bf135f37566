package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"instant/platform/metrics"
)

// NewRouter returns a chi router with Instrument at its edge followed by mw, /livez and
// /readyz, and JSON answers for unknown routes and methods. Further middleware must come
// through mw: chi refuses Use after the first route.
func NewRouter(log *slog.Logger, m *metrics.HTTP, h *Health, mw ...func(http.Handler) http.Handler) *chi.Mux {
	r := chi.NewRouter()
	r.Use(Instrument(log, m))
	r.Use(mw...)
	r.Get("/livez", h.Livez)
	r.Get("/readyz", h.Readyz)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, NotFound("no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, &Error{Status: 405, Code: "method_not_allowed", Message: "method not allowed on this route"})
	})
	return r
}

// InternalHandler serves /metrics and pprof; it listens on a port that is never exposed
// through the gateway.
func InternalHandler(reg *prometheus.Registry, h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(reg))
	mux.HandleFunc("/livez", h.Livez)
	mux.HandleFunc("/readyz", h.Readyz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Server runs the public and internal HTTP servers of a service until its context ends,
// then drains: readiness fails first, listeners close after DrainDelay, in-flight
// requests get ShutdownTimeout to finish.
type Server struct {
	Addr            string
	InternalAddr    string
	Handler         http.Handler
	Internal        http.Handler
	Health          *Health
	Log             *slog.Logger
	ShutdownTimeout time.Duration // keep below the pod's terminationGracePeriodSeconds
	DrainDelay      time.Duration // time for endpoints to stop routing here after readiness fails
	WriteTimeout    time.Duration // 0 means 30s
	// OnListen, if set, is told the bound addresses (tests listen on port 0).
	OnListen func(public, internal net.Addr)
}

// Run serves until ctx is done and returns after shutdown.
func (s *Server) Run(ctx context.Context) error {
	pub, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	var intl net.Listener
	if s.InternalAddr != "" && s.Internal != nil {
		intl, err = net.Listen("tcp", s.InternalAddr)
		if err != nil {
			pub.Close()
			return fmt.Errorf("listen %s: %w", s.InternalAddr, err)
		}
	}
	wt := s.WriteTimeout
	if wt == 0 {
		wt = 30 * time.Second
	}
	newSrv := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      wt,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
		}
	}
	public := newSrv(s.Handler)
	var internal *http.Server
	errc := make(chan error, 2)
	go func() { errc <- public.Serve(pub) }()
	if intl != nil {
		internal = newSrv(s.Internal)
		go func() { errc <- internal.Serve(intl) }()
	}
	attrs := []any{"addr", pub.Addr().String()}
	var intlAddr net.Addr
	if intl != nil {
		intlAddr = intl.Addr()
		attrs = append(attrs, "internal_addr", intlAddr.String())
	}
	s.Log.Info("listening", attrs...)
	if s.OnListen != nil {
		s.OnListen(pub.Addr(), intlAddr)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.Log.Info("shutting down", "drain_delay", s.DrainDelay.String(), "timeout", s.ShutdownTimeout.String())
	if s.Health != nil {
		s.Health.Drain()
	}
	if s.DrainDelay > 0 {
		time.Sleep(s.DrainDelay)
	}
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = public.Shutdown(sctx)
	if internal != nil {
		err = errors.Join(err, internal.Shutdown(sctx))
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.Log.Info("stopped")
	return nil
}
