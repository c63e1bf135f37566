package web

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"instant/platform/logging"
	"instant/platform/metrics"
)

// Header names the request path uses.
const (
	HeaderRequestID   = "X-Request-ID"
	HeaderTraceparent = "traceparent"
)

// Instrument is the one middleware at the edge of every router: it assigns the request id
// (keeping a sane one the caller sent), continues or starts the W3C trace, recovers panics
// into a JSON 500, records RED metrics by route pattern and writes one log line per request.
// Doing all of it in one wrapper keeps the per-request cost to one ResponseWriter wrapper.
func Instrument(log *slog.Logger, m *metrics.HTTP) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rid := r.Header.Get(HeaderRequestID)
			if !SaneRequestID(rid) {
				rid = NewID()
				r.Header.Set(HeaderRequestID, rid)
			}
			tr, ok := ParseTraceparent(r.Header.Get(HeaderTraceparent))
			if !ok {
				tr = NewTrace()
				r.Header.Set(HeaderTraceparent, tr.Header())
			}
			w.Header().Set(HeaderRequestID, rid)
			w.Header().Set(HeaderTraceparent, tr.Header())
			ctx := logging.WithRequest(r.Context(), logging.Request{ID: rid, TraceID: tr.TraceID})
			r = r.WithContext(ctx)

			sw := &statusWriter{ResponseWriter: w}
			if m != nil {
				m.Start()
			}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
					if !sw.wrote {
						WriteError(sw, r, &Error{Status: 500, Code: "internal", Message: "internal error"})
					}
				}
				status := sw.status
				if status == 0 {
					status = http.StatusOK
				}
				route := RoutePattern(r)
				d := time.Since(start)
				if m != nil {
					m.Observe(r.Method, route, status, d)
				}
				level := slog.LevelInfo
				if route == "/livez" || route == "/readyz" || route == "/metrics" {
					level = slog.LevelDebug
				}
				log.LogAttrs(ctx, level, "request",
					slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
					slog.Int("status", status), slog.Int64("bytes", sw.bytes),
					slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// RoutePattern returns the chi route pattern that served r, or "unmatched", so metrics and
// logs never use raw paths as labels.
func RoutePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// statusWriter remembers the status and size of a response. It forwards Flush and exposes
// Unwrap so http.ResponseController and streaming proxies keep working.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.wrote = true
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
