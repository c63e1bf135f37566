package identity

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestSignVerify(t *testing.T) {
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	good := s.Sign("8c0d1b2e-1111-4222-8333-944455556666")
	other, _ := NewSigner("another-secret-that-is-long-enough!!")
	foreign := other.Sign("8c0d1b2e-1111-4222-8333-944455556666")

	tests := []struct {
		name    string
		header  string
		advance time.Duration
		want    error
	}{
		{"valid", good, 0, nil},
		{"missing", "", 0, ErrMissing},
		{"malformed", "v1.user", 0, ErrMalformed},
		{"wrong_version", "v2" + good[2:], 0, ErrMalformed},
		{"other_secret", foreign, 0, ErrSignature},
		{"tampered_user", "v1.someone-else" + good[len("v1.8c0d1b2e-1111-4222-8333-944455556666"):], 0, ErrSignature},
		{"expired", good, DefaultTTL + time.Second, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.now = func() time.Time { return now.Add(tt.advance) }
			user, err := s.Verify(tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && user != "8c0d1b2e-1111-4222-8333-944455556666" {
				t.Fatalf("user = %q", user)
			}
		})
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := NewSigner("short"); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestMiddlewareIgnoresForgedUserHeader(t *testing.T) {
	s, _ := NewSigner(secret)
	var got string
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = UserID(r.Context())
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(HeaderUserID, "victim")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "" {
		t.Fatalf("forged X-User-ID became identity %q", got)
	}
	req.Header.Set(HeaderSignature, s.Sign("alice"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "alice" {
		t.Fatalf("signed identity not accepted, got %q", got)
	}
}

func BenchmarkSign(b *testing.B) {
	s, _ := NewSigner(secret)
	for b.Loop() {
		s.Sign("8c0d1b2e-1111-4222-8333-944455556666")
	}
}

func BenchmarkVerify(b *testing.B) {
	s, _ := NewSigner(secret)
	v := s.Sign("8c0d1b2e-1111-4222-8333-944455556666")
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Verify(v); err != nil {
			b.Fatal(err)
		}
	}
}
