package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// DefaultMaxBody bounds a JSON request body unless a handler says otherwise.
const DefaultMaxBody = 64 << 10

// Decode reads one JSON object from the request into dst. It answers (as *Error):
// 415 for a content type other than JSON, 413 for a body over max bytes, 400 for
// malformed JSON, unknown fields, wrong types, trailing data or an empty body.
func Decode(w http.ResponseWriter, r *http.Request, dst any, max int64) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return &Error{Status: 415, Code: "unsupported_media_type", Message: "Content-Type must be application/json"}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &Error{Status: 415, Code: "unsupported_media_type", Message: "Content-Type must be application/json"}
	}
	if r.ContentLength > max {
		return tooLarge(max)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, max)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(max)
		}
		return BadRequest("invalid_json", "request body must hold a single JSON object")
	}
	return nil
}

func tooLarge(max int64) *Error {
	return &Error{Status: 413, Code: "body_too_large", Message: fmt.Sprintf("request body exceeds %d bytes", max)}
}

func decodeError(err error, max int64) *Error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		mbe    *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(max)
	case errors.Is(err, io.EOF):
		return BadRequest("empty_body", "request body must not be empty")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("invalid_json", "request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("invalid_json", "request body must be a JSON object")
		}
		return &Error{Status: 400, Code: "validation_failed", Message: field + ": must be " + typ.Type.String(),
			Fields: map[string]string{field: "must be " + typ.Type.String()}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: 400, Code: "unknown_field", Message: "unknown field " + field,
			Fields: map[string]string{field: "unknown field"}}
	default:
		return BadRequest("invalid_json", "request body is not valid JSON")
	}
}
