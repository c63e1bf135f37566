package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"instant/platform/discovery"
	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/web"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestGetJSON(t *testing.T) {
	signer, _ := identity.NewSigner(secret)
	srv := httptest.NewServer(signer.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := identity.UserID(r.Context())
		switch r.URL.Path {
		case "/internal/things/1":
			web.WriteJSON(w, 200, map[string]string{"user": user, "rid": r.Header.Get("X-Request-ID"), "q": r.URL.Query().Get("q")})
		case "/internal/things/echo":
			var in map[string]string
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
				w.WriteHeader(400)
				return
			}
			web.WriteJSON(w, 200, map[string]string{"user": user, "got": in["send"]})
		case "/internal/things/busy":
			w.WriteHeader(503)
		case "/internal/things/broken":
			w.WriteHeader(500)
		case "/internal/things/bad":
			w.WriteHeader(400)
		default:
			w.WriteHeader(404)
		}
	})))
	defer srv.Close()
	r, err := discovery.New(context.Background(), discovery.Config{Mode: "static",
		Static: "things=" + strings.TrimPrefix(srv.URL, "http://") + ";gone=127.0.0.1:1"}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	c := New("things", r, signer, 2*time.Second)
	ctx := identity.WithUser(logging.WithRequest(context.Background(), logging.Request{ID: "rid-1", TraceID: strings.Repeat("a", 32)}), "u1")

	var got map[string]string
	if err := c.GetJSON(ctx, "/internal/things/1", url.Values{"q": {"x y"}}, &got); err != nil {
		t.Fatal(err)
	}
	var echoed map[string]string
	if err := c.PostJSON(ctx, "/internal/things/echo", map[string]string{"send": "body"}, &echoed); err != nil ||
		echoed["got"] != "body" || echoed["user"] != "u1" {
		t.Fatalf("PostJSON = %v, %v", echoed, err)
	}
	if err := c.PostJSON(ctx, "/internal/things/busy", map[string]string{}, &echoed); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PostJSON to a failing instance = %v", err)
	}
	if got["user"] != "u1" || got["rid"] != "rid-1" || got["q"] != "x y" {
		t.Fatalf("identity, request id or query lost: %v", got)
	}
	tests := []struct {
		name   string
		client *Client
		path   string
		want   error
	}{
		{"not_found", c, "/internal/things/2", ErrNotFound},
		{"busy_unavailable", c, "/internal/things/busy", ErrUnavailable},
		{"broken_unavailable", c, "/internal/things/broken", ErrUnavailable},
		{"down_unavailable", New("gone", r, signer, time.Second), "/x", ErrUnavailable},
		{"unknown_service_unavailable", New("nosuch", r, signer, time.Second), "/x", ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.client.GetJSON(ctx, tt.path, nil, &got); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var se *StatusError
	if err := c.GetJSON(ctx, "/internal/things/bad", nil, &got); !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("unexpected status not reported: %v", err)
	}
}
