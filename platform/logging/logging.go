// Package logging builds the process logger: log/slog JSON lines that carry the request
// id and trace id of the request they belong to, without every call site passing them.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

type ctxKey struct{}

// Request is what a log line needs to know about the request it belongs to.
type Request struct {
	ID      string
	TraceID string
}

// WithRequest returns a context whose log lines carry the given request id and trace id.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// RequestFrom returns the request attached by WithRequest, if any.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(ctxKey{}).(Request)
	return r, ok
}

// New returns a JSON logger writing to w at the given level ("debug", "info", "warn",
// "error"; unknown means info), tagged with the service name.
func New(w io.Writer, level, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: ParseLevel(level)})
	return slog.New(contextHandler{h}).With("service", service)
}

// ParseLevel maps a level name to its slog level, defaulting to info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Discard returns a logger that drops everything (tests that do not read logs).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// contextHandler adds request_id and trace_id from the context to every record, so a
// handler's log line is tied to its request as long as it logs with the *Context methods.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if req, ok := RequestFrom(ctx); ok {
		if req.ID != "" {
			r.AddAttrs(slog.String("request_id", req.ID))
		}
		if req.TraceID != "" {
			r.AddAttrs(slog.String("trace_id", req.TraceID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
