package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

// buildFakeService builds testdata/fakesvc once and installs it under every given
// service name in a fresh bin directory.
func buildFakeService(t *testing.T, names ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := t.TempDir()
	built := filepath.Join(t.TempDir(), "fakesvc")
	cmd := exec.Command(goTool, "build", "-o", built, "./testdata/fakesvc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fake service: %v\n%s", err, out)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(bin, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// syncBuffer collects the stack's output, written from many goroutines.
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

func fetchEnv(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url + "/env")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestStart_envContractAndStop(t *testing.T) {
	bin := buildFakeService(t, "gateway", "auth", "email")
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out syncBuffer
	s, err := Start(ctx, Options{
		BinDir:  bin,
		DataDir: data,
		Services: []Service{
			{Name: "auth", NeedsDB: true, NeedsRedis: true, NeedsKafka: true},
			{Name: "email", NeedsDB: true, NeedsKafka: true, NeedsSMTP: true},
			{Name: "gateway", Public: true, NeedsRedis: true},
		},
		GatewayAddr: "127.0.0.1:0",
		InboxAddr:   "127.0.0.1:0",
		Getenv:      envOf(map[string]string{"PATH": os.Getenv("PATH")}),
		Log:         testLogger(t),
		Stdout:      &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = s.Stop(context.Background())
		}
	}()

	gw := fetchEnv(t, s.GatewayURL)
	auth := fetchEnv(t, s.ServiceURL("auth"))
	email := fetchEnv(t, s.ServiceURL("email"))
	secret, err := os.ReadFile(filepath.Join(data, identitySecretFile))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("gateway_contract", func(t *testing.T) {
		authAddr := strings.TrimPrefix(s.ServiceURL("auth"), "http://")
		emailAddr := strings.TrimPrefix(s.ServiceURL("email"), "http://")
		want := map[string]string{
			"DISCOVERY_MODE":   "static",
			"DISCOVERY_STATIC": "auth=" + authAddr + ";email=" + emailAddr,
			"HTTP_ADDR":        strings.TrimPrefix(s.GatewayURL, "http://"),
			"LOG_LEVEL":        "info",
			"COOKIE_SECURE":    "false",
			"IDENTITY_SECRET":  strings.TrimSpace(string(secret)),
			"REDIS_URL":        s.RedisURL,
		}
		for k, v := range want {
			if gw[k] != v {
				t.Errorf("gateway %s = %q, want %q", k, gw[k], v)
			}
		}
		if !strings.Contains(gw["CORS_ALLOWED_ORIGINS"], "http://localhost:") {
			t.Errorf("CORS_ALLOWED_ORIGINS = %q, want the gateway's localhost origin", gw["CORS_ALLOWED_ORIGINS"])
		}
		for _, k := range []string{"DATABASE_URL", "KAFKA_BROKERS", "SMTP_HOST"} {
			if v, ok := gw[k]; ok {
				t.Errorf("gateway got %s=%q; it needs none", k, v)
			}
		}
	})

	t.Run("auth_contract", func(t *testing.T) {
		if want := "sqlite:" + filepath.Join(data, "auth.db"); auth["DATABASE_URL"] != want {
			t.Errorf("DATABASE_URL = %q, want %q", auth["DATABASE_URL"], want)
		}
		if auth["IDENTITY_SECRET"] != gw["IDENTITY_SECRET"] {
			t.Error("auth and gateway got different identity secrets")
		}
		if auth["DISCOVERY_STATIC"] != gw["DISCOVERY_STATIC"] {
			t.Error("auth and gateway got different discovery tables")
		}
		resp, err := http.Get(s.InternalURL("auth") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("INTERNAL_ADDR /metrics: %s", resp.Status)
		}
	})

	t.Run("redis_reachable", func(t *testing.T) {
		opt, err := redis.ParseURL(auth["REDIS_URL"])
		if err != nil {
			t.Fatal(err)
		}
		// No retries: the outage below should fail the ping at once.
		opt.MaxRetries, opt.DialerRetries = -1, 1
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		// TTLs pass in real time in the embedded Redis (sessions and rate-limit windows
		// expire): a key set to live briefly disappears without anyone fast-forwarding.
		if err := rdb.Set(ctx, "ratelimit:x", "1", 50*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		expiry, cancelExpiry := context.WithTimeout(ctx, 10*time.Second)
		defer cancelExpiry()
		for {
			n, err := rdb.Exists(ctx, "ratelimit:x").Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			select {
			case <-expiry.Done():
				t.Fatal("key with a TTL never expired")
			case <-time.After(20 * time.Millisecond):
			}
		}

		if err := s.StopRedis(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Ping(ctx).Err(); err == nil {
			t.Error("ping succeeded with Redis stopped")
		}
		if err := s.RestartRedis(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Errorf("ping after restart: %v", err)
		}
	})

	t.Run("kafka_reachable", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(auth["KAFKA_BROKERS"], ",")...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("smtp_contract_reaches_inbox", func(t *testing.T) {
		if email["SMTP_TLS"] != "none" || email["SMTP_FROM"] != defaultSMTPFrom {
			t.Errorf("SMTP_TLS = %q, SMTP_FROM = %q", email["SMTP_TLS"], email["SMTP_FROM"])
		}
		before := time.Now()
		addr := email["SMTP_HOST"] + ":" + email["SMTP_PORT"]
		msg := "To: dana@example.com\r\nSubject: Your code\r\n\r\nUse 135790 to sign in.\r\n"
		if err := smtp.SendMail(addr, nil, "no-reply@instant.local", []string{"dana@example.com"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		m, err := s.Mail.WaitFor(ctx, "dana@example.com", before)
		if err != nil || m.Code != "135790" {
			t.Fatalf("WaitFor = %+v, %v", m, err)
		}
		resp, err := http.Get(s.InboxURL + "/api/messages/latest?to=dana@example.com")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "135790") {
			t.Errorf("web inbox: %s %s", resp.Status, b)
		}
	})

	if t.Failed() {
		return
	}
	stopped = true
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.children {
		select {
		case <-c.done:
		default:
			t.Fatalf("%s still running after Stop", c.name)
		}
		if !c.cmd.ProcessState.Success() {
			t.Errorf("%s ended with %s, want a clean exit on SIGTERM", c.name, c.status())
		}
	}
	if _, err := http.Get(s.GatewayURL + "/readyz"); err == nil {
		t.Error("gateway still answers after Stop")
	}
	// Reverse order: the gateway drains before the services behind it go.
	text := out.String()
	gwStopped := strings.Index(text, "gateway  | {\"msg\":\"stopped\"}")
	authStopped := strings.Index(text, "auth     | {\"msg\":\"stopped\"}")
	if gwStopped < 0 || authStopped < 0 || gwStopped > authStopped {
		t.Errorf("want the gateway stopped first, then auth; output:\n%s", text)
	}
	if !strings.Contains(text, "inbox    | to=dana@example.com subject=\"Your code\" code=135790") {
		t.Errorf("no inbox line in output:\n%s", text)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStart_serviceExitsBeforeReady(t *testing.T) {
	bin := buildFakeService(t, "auth")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{
		BinDir:   bin,
		DataDir:  t.TempDir(),
		Services: []Service{{Name: "auth", NeedsDB: true, Env: map[string]string{"FAKESVC_FAIL": "config: DATABASE_URL: unsupported scheme"}}},
		Log:      testLogger(t),
	})
	if err == nil {
		t.Fatal("Start succeeded; want the service's exit reported")
	}
	for _, want := range []string{"auth exited before it was ready", "exit status 3", "unsupported scheme"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestStart_laterExitIsReported(t *testing.T) {
	bin := buildFakeService(t, "auth")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs syncBuffer
	s, err := Start(ctx, Options{
		BinDir:   bin,
		DataDir:  t.TempDir(),
		Services: []Service{{Name: "auth"}},
		Log:      slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	c := s.services["auth"]
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if text := logs.String(); !strings.Contains(text, `"level":"ERROR","msg":"service exited unexpectedly`) || !strings.Contains(text, `"service":"auth"`) {
		t.Errorf("no alarm for the dead service; log:\n%s", text)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("Stop with a dead service: %v", err)
	}
}

func TestStart_missingBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{
		BinDir:   t.TempDir(),
		DataDir:  t.TempDir(),
		Services: []Service{{Name: "auth"}},
		Log:      testLogger(t),
	})
	if err == nil || !strings.Contains(err.Error(), "no binary") {
		t.Errorf("err = %v, want a missing binary reported", err)
	}
}

func TestLineWriter(t *testing.T) {
	var buf syncBuffer
	lw := newLineWriter(&syncWriter{w: &buf}, "auth", 8)
	for _, chunk := range []string{"one\ntw", "o\r\n", "three"} {
		if _, err := io.WriteString(lw, chunk); err != nil {
			t.Fatal(err)
		}
	}
	lw.flush()
	want := "auth     | one\nauth     | two\nauth     | three\n"
	if got := buf.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	for i := range tailLines + 5 {
		_, _ = io.WriteString(lw, strings.Repeat("x", i)+"\n")
	}
	tail := lw.tail()
	if len(tail) != tailLines || tail[len(tail)-1] != strings.Repeat("x", tailLines+4) {
		t.Errorf("tail = %q", tail)
	}
}
