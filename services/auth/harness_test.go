package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/session"
	"instant/platform/testenv"
	"instant/services/auth/internal/config"
	"instant/services/auth/internal/userevents"
)

const (
	testSecret  = "test-identity-secret-0123456789abcdef"
	emailTopic  = "email.requests"
	eventsTopic = "user.events"
)

// backend is a pair of stores the app runs on: the real servers (required under CI)
// or the embedded stand-ins the one-machine stack uses.
type backend struct {
	name  string
	db    func(t *testing.T) string
	redis func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"postgres_redis", func(t *testing.T) string { return testenv.Postgres(t) }, func(t *testing.T) string { return testenv.Redis(t) }},
		{"sqlite_miniredis", func(t *testing.T) string { return testenv.SQLite(t) }, miniRedis},
	}
}

func miniRedis(t *testing.T) string { return "redis://" + miniredis.RunT(t).Addr() + "/0" }

// harness is the app as run builds it, with a Kafka cluster whose topics the test reads.
type harness struct {
	handler  http.Handler
	proc     *service.Process
	signer   *identity.Signer
	sessions *session.Store
	mail     *topicReader
	events   *topicReader
}

// env is the environment for an app on the given stores; brokers nil means a fresh
// in-process Kafka cluster.
func env(dsn, redisURL string, brokers []string) map[string]string {
	return map[string]string{
		"IDENTITY_SECRET":       testSecret,
		"DATABASE_URL":          dsn,
		"REDIS_URL":             redisURL,
		"KAFKA_BROKERS":         strings.Join(brokers, ","),
		"EMAIL_PUBLISH_TIMEOUT": "2s",
		"LOG_LEVEL":             "error",
	}
}

func newHarness(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	cfg, proc, err := service.Start("auth", func(k string) string { return vars[k] }, testenv.LogWriter(t),
		func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, proc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	signer, err := identity.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return &harness{
		handler: a.handler, proc: proc, signer: signer,
		sessions: session.NewStore(rdb, cfg.SessionIdleTimeout, cfg.SessionLifetime),
		mail:     newTopicReader(t, cfg.Brokers, emailTopic),
		events:   newTopicReader(t, cfg.Brokers, eventsTopic),
	}
}

// testWriter sends the service's log lines to the test log, shown only on failure.
// call is one request. A string body is sent as is, anything else as JSON.
type call struct {
	method, path string
	body         any
	as           string // user id to sign the identity header for
	header       map[string]string
}

func (h *harness) do(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	return testenv.Serve(t, h.handler, h.signer, testenv.Call{Method: c.method, Path: c.path, Body: c.body, As: c.as, Header: c.header})
}

// account is a signed-up user with a live session.
type account struct {
	ID, Username, Email, SessionID string
}

func newEmail() string { return testenv.Name("u") + "@example.com" }

// signup creates an account through the routes, as a client would.
func (h *harness) signup(t *testing.T) account {
	t.Helper()
	a := account{Username: testenv.Name("u"), Email: newEmail()}
	code := h.loginCode(t, a.Email)
	rec := h.do(t, call{method: "POST", path: "/auth/verify-code", body: map[string]string{
		"email": a.Email, "code": code, "username": a.Username}})
	mustStatus(t, rec, http.StatusOK)
	var resp struct {
		User      struct{ ID string }
		SessionID string `json:"session_id"`
	}
	decode(t, rec, &resp)
	a.ID, a.SessionID = resp.User.ID, resp.SessionID
	return a
}

// loginCode requests a sign-in code for email and reads it from the email topic.
func (h *harness) loginCode(t *testing.T, email string) string {
	t.Helper()
	mustStatus(t, h.do(t, call{method: "POST", path: "/auth/request-code", body: map[string]string{"email": email}}), http.StatusOK)
	return h.mailed(t, email, "login_code").Params["code"]
}

// mailed waits for the email request of the given template to address to.
func (h *harness) mailed(t *testing.T, to, template string) userevents.EmailData {
	t.Helper()
	var data userevents.EmailData
	h.mail.wait(t, func(e events.Envelope) bool {
		if e.Type != userevents.TypeEmailRequested {
			return false
		}
		var d userevents.EmailData
		if json.Unmarshal(e.Data, &d) != nil || d.To != to || d.Template != template {
			return false
		}
		data = d
		return true
	})
	return data
}

// event waits for a user.* event of type typ about user id.
func (h *harness) event(t *testing.T, typ, id string) map[string]any {
	t.Helper()
	var data map[string]any
	h.events.wait(t, func(e events.Envelope) bool {
		if e.Type != typ || e.Key != id {
			return false
		}
		return json.Unmarshal(e.Data, &data) == nil
	})
	return data
}

// topicReader reads one topic from its start and keeps what no wait has matched yet.
type topicReader struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen []events.Envelope
}

func newTopicReader(t *testing.T, brokers []string, topic string) *topicReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &topicReader{cl: cl}
}

// wait returns the first envelope that match accepts, polling with a deadline.
func (r *topicReader) wait(t *testing.T, match func(events.Envelope) bool) events.Envelope {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for i, e := range r.seen {
			if match(e) {
				r.seen = append(r.seen[:i], r.seen[i+1:]...)
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no matching record arrived on Kafka in time")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			var e events.Envelope
			if err := json.Unmarshal(rec.Value, &e); err == nil {
				if e.Key != string(rec.Key) {
					t.Errorf("record key %q differs from envelope key %q", rec.Key, e.Key)
				}
				r.seen = append(r.seen, e)
			}
		})
		cancel()
	}
}

// count returns how many records matching accept have arrived so far, after a poll.
func (r *topicReader) count(t *testing.T, match func(events.Envelope) bool) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
		var e events.Envelope
		if json.Unmarshal(rec.Value, &e) == nil {
			r.seen = append(r.seen, e)
		}
	})
	n := 0
	for _, e := range r.seen {
		if match(e) {
			n++
		}
	}
	return n
}

func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, want, rec.Body)
	}
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
}

// errorBody is the platform's JSON error envelope.
type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
