package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"instant/platform/testenv"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects the logs run writes from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServesAndShutsDown starts the real binary's run function and checks that it
// serves, exposes metrics on the internal port, and returns cleanly on cancellation.
func TestRunServesAndShutsDown(t *testing.T) {
	pub, intl := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"HTTP_ADDR": pub, "INTERNAL_ADDR": intl,
		"IDENTITY_SECRET":  "test-secret-test-secret-test-secret!",
		"REDIS_URL":        testenv.Redis(t),
		"DISCOVERY_STATIC": "auth=127.0.0.1:1",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, logs) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + pub + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never became ready: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + intl + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v", err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + pub + "/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("/auth/me anonymous = %d, want 401", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	out := logs.String()
	if strings.Contains(out, "test-secret-test-secret") {
		t.Fatal("the identity secret was logged")
	}
	if !strings.Contains(out, `"route":"/auth/me"`) || !strings.Contains(out, `"request_id"`) {
		t.Fatalf("no request log line with route and request id:\n%s", out)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	env := map[string]string{"IDENTITY_SECRET": "short", "REDIS_URL": "redis://127.0.0.1:6379/0", "DISCOVERY_STATIC": "auth=x:1"}
	err := run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "IDENTITY_SECRET") {
		t.Fatalf("err = %v, want an IDENTITY_SECRET complaint", err)
	}
}
