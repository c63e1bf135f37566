package web

import (
	"crypto/rand"
	"encoding/hex"
)

// Trace is the W3C trace context of a request (https://www.w3.org/TR/trace-context/).
type Trace struct {
	TraceID string // 32 lowercase hex
	SpanID  string // 16 lowercase hex, the caller's span
	Flags   string // 2 hex
}

// ParseTraceparent parses a version-00 traceparent header; ok is false when absent or
// malformed, in which case the caller starts a new trace.
func ParseTraceparent(h string) (Trace, bool) {
	if len(h) != 55 || h[0:3] != "00-" || h[35] != '-' || h[52] != '-' {
		return Trace{}, false
	}
	t := Trace{TraceID: h[3:35], SpanID: h[36:52], Flags: h[53:55]}
	if !isLowerHex(t.TraceID) || !isLowerHex(t.SpanID) || !isLowerHex(t.Flags) ||
		allZero(t.TraceID) || allZero(t.SpanID) {
		return Trace{}, false
	}
	return t, true
}

// NewTrace starts a trace with random ids.
func NewTrace() Trace {
	return Trace{TraceID: randomHex(16), SpanID: randomHex(8), Flags: "01"}
}

// Child returns the same trace with a new span id, for the hop this process makes.
func (t Trace) Child() Trace {
	t.SpanID = randomHex(8)
	return t
}

// Header renders the traceparent header value.
func (t Trace) Header() string { return "00-" + t.TraceID + "-" + t.SpanID + "-" + t.Flags }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// NewID returns a random 128-bit id in hex, used for request ids.
func NewID() string { return randomHex(16) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// SaneRequestID reports whether a client-sent X-Request-ID may be kept: 1–128 characters
// of [A-Za-z0-9._-], so it cannot inject anything into logs or headers.
func SaneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
