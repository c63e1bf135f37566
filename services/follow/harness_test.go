package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/testenv"
	"instant/platform/web"
	"instant/services/follow/internal/config"
	"instant/services/follow/internal/followevents"
)

const (
	testSecret  = "test-identity-secret-0123456789abcdef"
	eventsTopic = "follow.events"
	usersTopic  = "user.events"
	dlqTopic    = "follow.dlq"
)

// topics are every topic follow reads or writes, seeded in each test's Kafka cluster.
var topics = []string{eventsTopic, usersTopic, dlqTopic}

// backend is a database the app runs on: the real server (required under CI) or the
// embedded stand-in the one-machine stack uses.
type backend struct {
	name string
	db   func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
		{"sqlite", func(t *testing.T) string { return testenv.SQLite(t) }},
	}
}

// fakeAuth serves auth's public profile route as auth does (authhttp: getProfile):
// 200 {"id", "username", "created_at"} for an account, 404 with the JSON error envelope
// for an unknown id, 400 invalid_id for a malformed one. down makes it answer 503, as
// auth does when its database is gone.
type fakeAuth struct {
	srv   *httptest.Server
	mu    sync.Mutex
	users map[string]string // id -> username
	down  atomic.Bool
	calls atomic.Int64
	// hold, when set, makes every answer wait until it is closed.
	hold chan struct{}
}

func newFakeAuth(t *testing.T) *fakeAuth {
	t.Helper()
	f := &fakeAuth{users: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if f.hold != nil {
			<-f.hold
		}
		if f.down.Load() {
			web.WriteError(w, r, web.Unavailable("the service is temporarily unavailable; try again shortly", nil))
			return
		}
		id := r.PathValue("id")
		if u, err := uuid.Parse(id); err != nil || u.String() != id {
			web.WriteError(w, r, web.BadRequest("invalid_id", "user id must be a UUID"))
			return
		}
		f.mu.Lock()
		name, ok := f.users[id]
		f.mu.Unlock()
		if !ok {
			web.WriteError(w, r, web.NotFound("user not found"))
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "username": name, "created_at": time.Now().UTC()})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// addr is the host:port DISCOVERY_STATIC names for "auth".
func (f *fakeAuth) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// user creates an account and returns its id.
func (f *fakeAuth) user() string {
	id := uuid.NewString()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = testenv.Name("u")
	return id
}

// harness is the app as run builds it, with a fake auth and a Kafka cluster whose
// follow.events the test reads.
type harness struct {
	handler http.Handler
	proc    *service.Process
	signer  *identity.Signer
	auth    *fakeAuth
	brokers []string
	events  *topicReader
}

// env is the environment for an app on the database dsn, the brokers and an auth at
// authAddr.
func env(dsn string, brokers []string, authAddr string) map[string]string {
	return map[string]string{
		"IDENTITY_SECRET":  testSecret,
		"DATABASE_URL":     dsn,
		"KAFKA_BROKERS":    strings.Join(brokers, ","),
		"DISCOVERY_MODE":   "static",
		"DISCOVERY_STATIC": "auth=" + authAddr,
		"AUTH_TIMEOUT":     "2s",
		"LOG_LEVEL":        "error",
	}
}

// newHarness runs the app on dsn with a fresh fake auth and Kafka cluster; edit may
// change the environment first.
func newHarness(t *testing.T, dsn string, edit func(vars map[string]string)) *harness {
	t.Helper()
	auth := newFakeAuth(t)
	brokers := testenv.Kafka(t, topics...)
	vars := env(dsn, brokers, auth.addr())
	if edit != nil {
		edit(vars)
	}
	cfg, proc, err := service.Start("follow", func(k string) string { return vars[k] }, testenv.LogWriter(t),
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
	return &harness{handler: a.handler, proc: proc, signer: signer, auth: auth, brokers: cfg.Brokers,
		events: newTopicReader(t, cfg.Brokers, cfg.EventsTopic)}
}

// testWriter sends the service's log lines to the test log, shown only on failure.
// call is one request.
type call struct {
	method, path string
	as           string // user id to sign the identity header for
	header       map[string]string
}

func (h *harness) do(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(c.method, c.path, nil)
	if c.as != "" {
		r.Header.Set(identity.HeaderSignature, h.signer.Sign(c.as))
		r.Header.Set(identity.HeaderUserID, c.as)
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

// follow makes follower follow followee through the route and insists on 200.
func (h *harness) follow(t *testing.T, follower, followee string) followBody {
	t.Helper()
	rec := h.do(t, call{method: "PUT", path: "/api/users/" + followee + "/follow", as: follower})
	mustStatus(t, rec, http.StatusOK)
	var b followBody
	decode(t, rec, &b)
	return b
}

type followBody struct {
	UserID         string `json:"user_id"`
	Following      bool   `json:"following"`
	FollowersCount int64  `json:"followers_count"`
	FollowingCount int64  `json:"following_count"`
}

type pageBody struct {
	Items []struct {
		UserID     string    `json:"user_id"`
		FollowedAt time.Time `json:"followed_at"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type relationBody struct {
	UserID         string `json:"user_id"`
	FollowersCount int64  `json:"followers_count"`
	FollowingCount int64  `json:"following_count"`
	FollowedByMe   bool   `json:"followed_by_me"`
	FollowsMe      bool   `json:"follows_me"`
}

// list reads one page of a list route as viewer.
func (h *harness) list(t *testing.T, path, viewer string) pageBody {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: path, as: viewer})
	mustStatus(t, rec, http.StatusOK)
	var p pageBody
	decode(t, rec, &p)
	return p
}

// ids are the user ids of a page, in order.
func (p pageBody) ids() []string {
	out := make([]string, len(p.Items))
	for i, it := range p.Items {
		out[i] = it.UserID
	}
	return out
}

// followEvent is a follow.* event as read from Kafka.
type followEvent struct {
	events.Envelope
	data followevents.Data
}

// topicReader reads one topic from its start and keeps everything it has read.
type topicReader struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen []followEvent
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

// poll reads what has arrived, waiting at most a moment.
func (r *topicReader) poll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
		var e followEvent
		if err := json.Unmarshal(rec.Value, &e.Envelope); err != nil {
			t.Errorf("record is not an envelope: %s", rec.Value)
			return
		}
		if err := json.Unmarshal(e.Data, &e.data); err != nil {
			t.Errorf("event data: %s", e.Data)
			return
		}
		if e.Key != string(rec.Key) {
			t.Errorf("record key %q differs from envelope key %q", rec.Key, e.Key)
		}
		r.seen = append(r.seen, e)
	})
}

// wait returns the first event of type typ for follower → followee, polling with a
// deadline.
func (r *topicReader) wait(t *testing.T, typ, follower, followee string) followEvent {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range r.seen {
			if e.Type == typ && e.data.FollowerID == follower && e.data.FolloweeID == followee {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s -> %s arrived on Kafka in time", typ, follower, followee)
		}
		r.poll(t)
	}
}

// count returns how many events of type typ for follower → followee were read so far.
// Events of one follower share a partition and arrive in order, so once a later event
// of the same follower was waited for, every earlier one is counted.
func (r *topicReader) count(typ, follower, followee string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.seen {
		if e.Type == typ && e.data.FollowerID == follower && e.data.FolloweeID == followee {
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
