package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"instant/platform/identity"
)

// Call is one request to a handler under test. A string Body is sent as is, anything
// else as JSON. As, when set, is the user the identity header is signed for — the way
// the gateway would sign it.
type Call struct {
	Method, Path string
	Body         any
	As           string
	Header       map[string]string
}

// Serve sends c to h through an httptest recorder.
func Serve(t testing.TB, h http.Handler, signer *identity.Signer, c Call) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	switch b := c.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(c.Method, c.Path, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.As != "" {
		r.Header.Set(identity.HeaderSignature, signer.Sign(c.As))
		r.Header.Set(identity.HeaderUserID, c.As)
	}
	for k, v := range c.Header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// LogWriter sends what a service logs to the test's log, line by line, so a failing
// test shows what the service said and a passing one stays quiet.
func LogWriter(t testing.TB) io.Writer { return logWriter{t} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
