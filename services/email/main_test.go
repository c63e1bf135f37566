package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/email/internal/emailkafka"
	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtptest"
)

// waitFor bounds every wait: a deadline for a condition, never a duration asserted on.
const waitFor = 30 * time.Second

// logBuffer collects the JSON log lines of a run; safe for the service's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// find returns the first log line whose msg is msg.
func (b *logBuffer) find(msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return line, true
		}
	}
	return nil, false
}

// instance is one running email process.
type instance struct {
	public, internal string // base URLs
	logs             *logBuffer
	stop             func() error
}

// start runs the service with env until stop (also at cleanup), exactly as main does.
func start(t *testing.T, env map[string]string) *instance {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, logs) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitFor):
				t.Errorf("run did not return after cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })

	deadline := time.Now().Add(waitFor)
	for {
		if line, ok := logs.find("listening"); ok {
			return &instance{
				public: "http://" + line["addr"].(string), internal: "http://" + line["internal_addr"].(string),
				logs: logs, stop: stop,
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start listening:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hasSample reports whether the exposition at url has the sample series with value.
func hasSample(t *testing.T, url, series, value string) bool {
	t.Helper()
	_, body := get(t, url)
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, series+" ") && strings.TrimSpace(strings.TrimPrefix(line, series)) == value {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func baseEnv(brokers []string, smtp *smtptest.Server, dsn string) map[string]string {
	return map[string]string{
		"HTTP_ADDR":           "127.0.0.1:0",
		"INTERNAL_ADDR":       "127.0.0.1:0",
		"IDENTITY_SECRET":     strings.Repeat("k", 32),
		"SHUTDOWN_TIMEOUT":    "5s",
		"DATABASE_URL":        dsn,
		"KAFKA_BROKERS":       strings.Join(brokers, ","),
		"SMTP_HOST":           smtp.Host,
		"SMTP_PORT":           smtp.Addr()[strings.LastIndexByte(smtp.Addr(), ':')+1:],
		"SMTP_TLS":            "none",
		"SMTP_FROM":           "instant <no-reply@instant.example>",
		"EMAIL_RETRY_BACKOFF": "10ms",
	}
}

// TestRun walks the service as it ships: probes, an email request through Kafka to the
// SMTP server, metrics, logs without personal data, a restart that remembers what was
// sent, and a clean shutdown.
func TestRun(t *testing.T) {
	for _, d := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", testenv.SQLite}, {"postgres", testenv.Postgres}} {
		t.Run(d.name, func(t *testing.T) {
			brokers := testenv.Kafka(t, "email.requests", "email.requests.dlq")
			srv := smtptest.Start(t, smtptest.Options{})
			env := baseEnv(brokers, srv, d.dsn(t))
			svc := start(t, env)

			if code, _ := get(t, svc.public+"/livez"); code != http.StatusOK {
				t.Errorf("/livez = %d", code)
			}
			eventually(t, "readiness", func() bool {
				code, _ := get(t, svc.public+"/readyz")
				return code == http.StatusOK
			})
			if code, body := get(t, svc.public+"/api/emails"); code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
				t.Errorf("unknown route = %d %s; want a JSON 404", code, body)
			}

			producer, err := events.NewProducer(events.Conn{Brokers: brokers}, "test-auth", logging.Discard(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer producer.Close()
			e := loginCodeRequest(t, "alice@example.com", "alice", "987654")
			publish(t, producer, e)
			m := srv.WaitFor(t, 1, waitFor)[0]
			if !strings.Contains(m.Text, "987654") || !strings.Contains(m.HTML, "987654") || m.To[0] != "alice@example.com" {
				t.Errorf("message to %v: text %q html %q", m.To, m.Text, m.HTML)
			}
			eventually(t, "emails_sent_total", func() bool {
				return hasSample(t, svc.internal+"/metrics", `emails_sent_total{template="login_code"}`, "1")
			})

			if err := svc.stop(); err != nil {
				t.Fatalf("run returned %v on shutdown", err)
			}
			logs := svc.logs.String()
			if strings.Contains(logs, "alice@example.com") || strings.Contains(logs, "987654") {
				t.Errorf("logs show the address or the code:\n%s", logs)
			}
			if !strings.Contains(logs, "a***@example.com") {
				t.Errorf("logs lack the masked address:\n%s", logs)
			}
			if strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("errors logged:\n%s", logs)
			}

			// A new process over the same database and group gets the same request again
			// (a redelivery): it remembers that it was sent.
			svc2 := start(t, env)
			publish(t, producer, e)
			eventually(t, "the duplicate to be skipped", func() bool {
				return hasSample(t, svc2.internal+"/metrics", "emails_duplicates_total", "1")
			})
			if n := len(srv.Messages()); n != 1 {
				t.Fatalf("server has %d messages, want 1", n)
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	env := baseEnv([]string{"127.0.0.1:1"}, srv, testenv.SQLite(t))
	delete(env, "SMTP_HOST")
	err := run(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SMTP_HOST") {
		t.Fatalf("run = %v, want an error naming SMTP_HOST", err)
	}
}

// TestRunRefusesUnreadableKafkaCA: a KAFKA_TLS_CA_FILE that cannot be read stops the
// service at start, before it reports live, rather than failing every dial later.
func TestRunRefusesUnreadableKafkaCA(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	env := baseEnv([]string{"127.0.0.1:1"}, srv, testenv.SQLite(t))
	env["KAFKA_TLS"] = "true"
	env["KAFKA_TLS_CA_FILE"] = filepath.Join(t.TempDir(), "missing-ca.crt")
	err := run(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TLS CA file") {
		t.Fatalf("run = %v, want an error about the TLS CA file", err)
	}
}

// TestRunSignsInToKafka: with the KAFKA_SASL_* variables the chart sets when Kafka
// authentication is on, the service signs in to a broker that requires SCRAM-SHA-512:
// it becomes ready (the readiness ping uses the same settings) and delivers a request.
// With a wrong password it stays unready and says why, and no log line shows either
// password.
func TestRunSignsInToKafka(t *testing.T) {
	const user, password = "instant-email", "scram-password-for-email"
	brokers := testenv.KafkaSASL(t, user, password, "email.requests", "email.requests.dlq")
	srv := smtptest.Start(t, smtptest.Options{})
	env := baseEnv(brokers, srv, testenv.SQLite(t))
	env["KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-512"
	env["KAFKA_SASL_USERNAME"] = user

	t.Run("wrong_password_unready", func(t *testing.T) {
		env := maps.Clone(env)
		env["KAFKA_SASL_PASSWORD"] = "not-the-password"
		svc := start(t, env)
		eventually(t, "a failed readiness check", func() bool {
			code, body := get(t, svc.public+"/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "kafka")
		})
		if err := svc.stop(); err != nil {
			t.Fatalf("run returned %v on shutdown", err)
		}
		if logs := svc.logs.String(); strings.Contains(logs, "not-the-password") {
			t.Errorf("logs show the password:\n%s", logs)
		}
	})

	env["KAFKA_SASL_PASSWORD"] = password
	svc := start(t, env)
	eventually(t, "readiness", func() bool {
		code, _ := get(t, svc.public+"/readyz")
		return code == http.StatusOK
	})
	producer, err := events.NewProducer(events.Conn{Brokers: brokers, SASLMechanism: "SCRAM-SHA-512", SASLUsername: user, SASLPassword: password},
		"test-auth", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	publish(t, producer, loginCodeRequest(t, "bob@example.com", "bob", "123123"))
	if m := srv.WaitFor(t, 1, waitFor)[0]; !strings.Contains(m.Text, "123123") {
		t.Errorf("message text %q lacks the code", m.Text)
	}
	if err := svc.stop(); err != nil {
		t.Fatalf("run returned %v on shutdown", err)
	}
	logs := svc.logs.String()
	if strings.Contains(logs, password) {
		t.Errorf("logs show the password:\n%s", logs)
	}
	if line, ok := svc.logs.find("config"); !ok || line["KAFKA_SASL_PASSWORD"] != "***" || line["KAFKA_SASL_USERNAME"] != user {
		t.Errorf("config line %v: want the username and a masked password", line)
	}
}

// loginCodeRequest is auth's request for a sign-in code mail.
func loginCodeRequest(t *testing.T, to, username, code string) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(emailkafka.EventType, "auth", to, emailkafka.Requested{
		To: to, Template: mail.TemplateLoginCode, Params: mail.Params{Code: code, TTLMinutes: "10", Username: username},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// publish puts e on email.requests.
func publish(t *testing.T, producer *events.Producer, e events.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := producer.PublishEnvelope(ctx, "email.requests", e); err != nil {
		t.Fatal(err)
	}
}
