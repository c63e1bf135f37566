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
	"instant/services/comments/internal/config"
)

const (
	testSecret  = "test-identity-secret-0123456789abcdef"
	eventsTopic = "comment.events"
	postsTopic  = "post.events"
	usersTopic  = "user.events"
	dlqTopic    = "comments.dlq"
)

// topics are every topic comments reads or writes, seeded in each test's Kafka cluster.
var topics = []string{eventsTopic, postsTopic, usersTopic, dlqTopic}

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

// fakePosts serves posts' internal route GET /internal/posts/{id} as posts does
// (contracts.md): 200 {"id","user_id","image_key"}, a JSON 404 for an unknown or
// malformed id. It can also answer 503 or hang, and counts the calls it gets.
type fakePosts struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts map[string]string // id -> owner
	calls atomic.Int64
	// status, when set, is the answer to every call (503: posts is overloaded).
	status atomic.Int32
	// hang makes every call wait until its client gives up.
	hang atomic.Bool
}

func newFakePosts(t *testing.T) *fakePosts {
	t.Helper()
	f := &fakePosts{posts: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/posts/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if f.hang.Load() {
			<-r.Context().Done()
			return
		}
		if s := f.status.Load(); s != 0 {
			web.WriteError(w, r, &web.Error{Status: int(s), Code: "unavailable", Message: "try again"})
			return
		}
		id := r.PathValue("id")
		f.mu.Lock()
		owner, ok := f.posts[id]
		f.mu.Unlock()
		if !ok {
			web.WriteError(w, r, web.NotFound("post not found"))
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"id": id, "user_id": owner, "image_key": "users/" + owner + "/photo.jpg"})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// add creates a post owned by owner and returns its id.
func (f *fakePosts) add(owner string) string {
	id := uuid.NewString()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts[id] = owner
	return id
}

func (f *fakePosts) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.posts, id)
}

func (f *fakePosts) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// harness is the app as run builds it, with a Kafka cluster whose topic the test reads
// and a fake posts service.
type harness struct {
	handler http.Handler
	proc    *service.Process
	signer  *identity.Signer
	posts   *fakePosts
	brokers []string
	events  *topicReader
}

// env is the environment for an app on the given database and brokers, finding posts at
// postsAddr. The post cache is off: route tests delete posts and expect it at once; the
// cache has tests of its own.
func env(dsn string, brokers []string, postsAddr string) map[string]string {
	return map[string]string{
		"IDENTITY_SECRET":  testSecret,
		"DATABASE_URL":     dsn,
		"KAFKA_BROKERS":    strings.Join(brokers, ","),
		"DISCOVERY_STATIC": "posts=" + postsAddr,
		"POSTS_TIMEOUT":    "2s",
		"POST_CACHE_TTL":   "0s",
		"LOG_LEVEL":        "error",
	}
}

// newHarness builds the app on dsn with a fresh Kafka cluster and fake posts; edit, if
// set, changes the environment first.
func newHarness(t *testing.T, dsn string, edit func(vars map[string]string)) *harness {
	t.Helper()
	posts := newFakePosts(t)
	vars := env(dsn, testenv.Kafka(t, topics...), posts.addr())
	if edit != nil {
		edit(vars)
	}
	cfg, proc, err := service.Start("comments", func(k string) string { return vars[k] }, testenv.LogWriter(t),
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
	return &harness{handler: a.handler, proc: proc, signer: signer, posts: posts, brokers: cfg.Brokers,
		events: newTopicReader(t, cfg.Brokers, eventsTopic)}
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

// commentJSON is a comment as the API answers it.
type commentJSON struct {
	ID        string `json:"id"`
	PostID    string `json:"post_id"`
	UserID    string `json:"user_id"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type listJSON struct {
	Items      []commentJSON `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

func newUser() string { return uuid.NewString() }

// comment creates a comment through the route, as a client would.
func (h *harness) comment(t *testing.T, as, postID, body string) commentJSON {
	t.Helper()
	rec := h.do(t, call{method: "POST", path: "/api/posts/" + postID + "/comments", as: as, body: map[string]string{"body": body}})
	mustStatus(t, rec, http.StatusCreated)
	var c commentJSON
	decode(t, rec, &c)
	return c
}

// list reads one page of a post's comments.
func (h *harness) list(t *testing.T, as, postID, query string) listJSON {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/posts/" + postID + "/comments" + query, as: as})
	mustStatus(t, rec, http.StatusOK)
	var l listJSON
	decode(t, rec, &l)
	return l
}

// event waits for a comment.* event of type typ about comment id.
func (h *harness) event(t *testing.T, typ, id string) (events.Envelope, map[string]any) {
	t.Helper()
	var data map[string]any
	e := h.events.wait(t, func(e events.Envelope) bool {
		if e.Type != typ {
			return false
		}
		var d map[string]any
		if json.Unmarshal(e.Data, &d) != nil || d["id"] != id {
			return false
		}
		data = d
		return true
	})
	return e, data
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
		r.poll(t)
	}
}

// count returns how many records matching accept have arrived so far, after a poll.
func (r *topicReader) count(t *testing.T, match func(events.Envelope) bool) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.poll(t)
	n := 0
	for _, e := range r.seen {
		if match(e) {
			n++
		}
	}
	return n
}

func (r *topicReader) poll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
		var e events.Envelope
		if err := json.Unmarshal(rec.Value, &e); err == nil {
			if e.Key != string(rec.Key) {
				t.Errorf("record key %q differs from envelope key %q", rec.Key, e.Key)
			}
			r.seen = append(r.seen, e)
		}
	})
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
