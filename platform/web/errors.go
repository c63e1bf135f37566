// Package web holds the HTTP mechanisms every instant service shares: the server with its
// timeouts and graceful shutdown, the JSON error envelope, request decoding with limits,
// request ids and trace context, access logs, health endpoints and metrics wiring.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"instant/platform/logging"
)

// Error is an error with an HTTP meaning. Message is shown to the client; Err (if any)
// is only logged.
type Error struct {
	Status  int
	Code    string            // machine-readable, snake_case: "invalid_email", "not_found"
	Message string            // human-readable, safe to show
	Fields  map[string]string // field -> problem, for validation errors
	Err     error             // cause, logged, never sent
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf-style constructors for the statuses handlers use most.
func BadRequest(code, msg string) *Error { return &Error{Status: 400, Code: code, Message: msg} }
func Invalid(field, problem string) *Error {
	return &Error{Status: 400, Code: "validation_failed", Message: field + ": " + problem, Fields: map[string]string{field: problem}}
}
func Unauthorized(msg string) *Error   { return &Error{Status: 401, Code: "unauthorized", Message: msg} }
func Forbidden(msg string) *Error      { return &Error{Status: 403, Code: "forbidden", Message: msg} }
func NotFound(msg string) *Error       { return &Error{Status: 404, Code: "not_found", Message: msg} }
func Conflict(code, msg string) *Error { return &Error{Status: 409, Code: code, Message: msg} }
func Unavailable(msg string, cause error) *Error {
	return &Error{Status: 503, Code: "unavailable", Message: msg, Err: cause}
}

// Rule maps a core error (matched with errors.Is) to a client-facing Error.
type Rule struct {
	Target  error
	Status  int
	Code    string
	Message string
}

// ErrorMap is the one table per service that turns core errors into HTTP answers.
type ErrorMap []Rule

// Body is the JSON error envelope every service answers with.
type Body struct {
	Success bool      `json:"success"`
	Error   ErrorBody `json:"error"`
}

// ErrorBody is the inside of the envelope.
type ErrorBody struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// Responder writes JSON answers and errors; it logs each error once, where it is handled:
// 5xx at error level with the cause, 4xx at info.
type Responder struct {
	Log    *slog.Logger
	Errors ErrorMap
}

// JSON writes v with the given status.
func (rs Responder) JSON(w http.ResponseWriter, status int, v any) { WriteJSON(w, status, v) }

// Error answers err: a *Error as it says, a mapped core error per the table, anything else
// as a generic 500 whose details only reach the log.
func (rs Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	e := rs.resolve(err)
	log := rs.Log
	if log == nil {
		log = slog.Default()
	}
	if e.Status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "status", e.Status, "code", e.Code, "err", err)
	} else {
		log.InfoContext(r.Context(), "request rejected", "status", e.Status, "code", e.Code, "err", err)
	}
	WriteError(w, r, e)
}

func (rs Responder) resolve(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, rule := range rs.Errors {
		if errors.Is(err, rule.Target) {
			return &Error{Status: rule.Status, Code: rule.Code, Message: rule.Message, Err: err}
		}
	}
	return &Error{Status: 500, Code: "internal", Message: "internal error", Err: err}
}

// WriteError writes the envelope for e without logging (callers that log themselves).
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	body := Body{Error: ErrorBody{Code: e.Code, Message: e.Message, Fields: e.Fields}}
	if req, ok := logging.RequestFrom(r.Context()); ok {
		body.Error.RequestID = req.ID
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status >= 500 && e.Message == "" {
		body.Error.Message = http.StatusText(e.Status)
	}
	WriteJSON(w, e.Status, body)
}

// WriteJSON writes v as JSON with the status. The body is encoded before anything is
// sent, so the answer goes out in one write with a Content-Length: a chunked answer would
// make the gateway's reverse proxy flush every piece it reads as a write of its own
// (httputil.ReverseProxy streams bodies of unknown length). A value that cannot be
// encoded, a programming error, becomes a 500 instead of a truncated answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if v == nil {
		w.WriteHeader(status)
		return
	}
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledJSON {
			buf.Reset()
			jsonBuffers.Put(buf)
		}
	}()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		slog.Error("encode answer", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// jsonBuffers holds WriteJSON's encoding buffers; one bigger than maxPooledJSON (a rare
// large answer) is left to the collector rather than kept.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledJSON = 256 << 10
