package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/testenv"
	"instant/platform/web"
	"instant/services/posts/internal/config"
)

const (
	testSecret    = "test-identity-secret-0123456789abcdef"
	postsTopic    = "post.events"
	usersTopic    = "user.events"
	likesTopic    = "like.events"
	commentsTopic = "comment.events"
	dlqTopic      = "posts.dlq"
	maxImage      = 1 << 20 // MAX_IMAGE_BYTES in tests
	jpeg          = "image/jpeg"
	filesPrefix   = "/internal/files/"
)

// topics are every topic posts reads or writes, seeded in each test's Kafka cluster.
var topics = []string{postsTopic, usersTopic, likesTopic, commentsTopic, dlqTopic}

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

// fakeFiles is a faithful stand-in for the files service's internal routes:
// GET /internal/files/{key...}: 200 {"key","owner_id","size","content_type","uploaded_at"}
// for an uploaded object, 404 otherwise; GET /internal/uploads (the uploads older than
// ?before=, after ?after=, in key order, two per page) and POST /internal/uploads/delete.
// The owner is the user id in the key, as files keeps every upload under its owner's
// prefix. Status, when set, answers every call with it.
type fakeFiles struct {
	srv *httptest.Server

	mu      sync.Mutex
	objects map[string]fileStat
	status  int
	calls   int
	callers []string // the signed identity each call carried
}

type fileStat struct {
	Key         string    `json:"key"`
	OwnerID     string    `json:"owner_id"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

func newFakeFiles(t *testing.T) *fakeFiles {
	t.Helper()
	f := &fakeFiles{objects: map[string]fileStat{}}
	signer, err := identity.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(signer.Middleware(http.HandlerFunc(f.serve)))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFiles) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	user, _ := identity.UserID(r.Context())
	f.callers = append(f.callers, user)
	key, ok := strings.CutPrefix(r.URL.Path, filesPrefix)
	switch {
	case f.status == 0 && r.Method == http.MethodGet && r.URL.Path == "/internal/uploads":
		f.listUploads(w, r)
	case f.status == 0 && r.Method == http.MethodPost && r.URL.Path == "/internal/uploads/delete":
		var req struct{ Keys []string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			web.WriteError(w, r, web.Invalid("keys", "not JSON"))
			return
		}
		for _, k := range req.Keys {
			delete(f.objects, k)
		}
		web.WriteJSON(w, http.StatusOK, map[string]int{"removed": len(req.Keys)})
	case r.Method != http.MethodGet || !ok:
		web.WriteError(w, r, web.NotFound("no such route"))
	case f.status != 0:
		web.WriteError(w, r, &web.Error{Status: f.status, Code: "unavailable", Message: "down"})
	default:
		s, found := f.objects[key]
		if !found {
			web.WriteError(w, r, web.NotFound("no such file"))
			return
		}
		web.WriteJSON(w, http.StatusOK, s)
	}
}

// listUploads answers GET /internal/uploads, two keys of the store per page.
func (f *fakeFiles) listUploads(w http.ResponseWriter, r *http.Request) {
	before, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("before"))
	if err != nil {
		web.WriteError(w, r, web.Invalid("before", "must be an RFC 3339 time"))
		return
	}
	after := r.URL.Query().Get("after")
	var keys []string
	for k := range f.objects {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	type upload struct {
		Key string `json:"key"`
	}
	page := struct {
		Uploads []upload `json:"uploads"`
		Next    string   `json:"next,omitempty"`
	}{Uploads: []upload{}}
	if len(keys) > 2 {
		keys, page.Next = keys[:2], keys[1]
	}
	for _, k := range keys {
		if f.objects[k].UploadedAt.Before(before) {
			page.Uploads = append(page.Uploads, upload{Key: k})
		}
	}
	web.WriteJSON(w, http.StatusOK, page)
}

// age moves key's upload time back by d.
func (f *fakeFiles) age(key string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.objects[key]
	o.UploadedAt = o.UploadedAt.Add(-d)
	f.objects[key] = o
}

// has reports whether key is still stored.
func (f *fakeFiles) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.objects[key]
	return ok
}

func (f *fakeFiles) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// upload records an object as files would after a user PUT it to the object store.
func (f *fakeFiles) upload(owner, name, contentType string, size int64) string {
	key := "users/" + owner + "/" + name
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = fileStat{Key: key, OwnerID: owner, Size: size, ContentType: contentType, UploadedAt: time.Now().UTC()}
	return key
}

func (f *fakeFiles) setStatus(s int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
}

func (f *fakeFiles) lastCaller() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.callers) == 0 {
		return ""
	}
	return f.callers[len(f.callers)-1]
}

func (f *fakeFiles) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// harness is the app as run builds it, with a files fake and a Kafka cluster whose
// topics the test reads.
type harness struct {
	handler http.Handler
	proc    *service.Process
	signer  *identity.Signer
	files   *fakeFiles
	brokers []string
	events  *topicReader
}

// env is the environment for an app on the given database, brokers and files address.
func env(dsn string, brokers []string, filesAddr string) map[string]string {
	return map[string]string{
		"IDENTITY_SECRET":  testSecret,
		"DATABASE_URL":     dsn,
		"KAFKA_BROKERS":    strings.Join(brokers, ","),
		"DISCOVERY_STATIC": "files=" + filesAddr,
		"MAX_IMAGE_BYTES":  "1048576",
		"FILES_TIMEOUT":    "2s",
		"LOG_LEVEL":        "error",
	}
}

// newHarness starts an app on dsn with a fresh files fake and Kafka cluster; edit may
// change the environment first.
func newHarness(t *testing.T, dsn string, edit ...func(map[string]string)) *harness {
	t.Helper()
	files := newFakeFiles(t)
	brokers := testenv.Kafka(t, topics...)
	vars := env(dsn, brokers, files.addr())
	for _, e := range edit {
		e(vars)
	}
	h := startApp(t, vars)
	h.files, h.brokers = files, brokers
	h.events = newTopicReader(t, brokers, postsTopic)
	return h
}

func startApp(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	cfg, proc, err := service.Start("posts", func(k string) string { return vars[k] }, testenv.LogWriter(t),
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
	return &harness{handler: a.handler, proc: proc, signer: signer}
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

func newUser() string { return uuid.NewString() }

// postJSON is a post as the API answers it.
type postJSON struct {
	PostID       string   `json:"post_id"`
	ID           string   `json:"id"`
	UserID       string   `json:"user_id"`
	Username     string   `json:"username"`
	Caption      string   `json:"caption"`
	ImageKey     string   `json:"image_key"`
	ImageURL     string   `json:"image_url"`
	Hashtags     []string `json:"hashtags"`
	Mentions     []string `json:"mentions"`
	LikeCount    int64    `json:"like_count"`
	CommentCount int64    `json:"comment_count"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
}

type listJSON struct {
	Posts      []postJSON `json:"posts"`
	Page       int        `json:"page"`
	PageSize   int        `json:"page_size"`
	HasMore    bool       `json:"has_more"`
	NextCursor string     `json:"next_cursor"`
}

// envelope is the original API's success envelope around data.
type envelope[T any] struct {
	Success bool `json:"success"`
	Data    T    `json:"data"`
}

// data decodes a success envelope and checks its flag.
func data[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var e envelope[T]
	decode(t, rec, &e)
	if !e.Success {
		t.Fatalf("success = false in %s", rec.Body)
	}
	return e.Data
}

// createPost uploads an image for user and posts it with caption.
func (h *harness) createPost(t *testing.T, user, caption string) postJSON {
	t.Helper()
	key := h.files.upload(user, uuid.NewString()+".jpg", jpeg, 1000)
	rec := h.do(t, call{method: "POST", path: "/api/posts", as: user, body: map[string]string{"caption": caption, "image_key": key}})
	mustStatus(t, rec, http.StatusCreated)
	return data[postJSON](t, rec)
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

// event waits for a post.* event of type typ about post id and returns its data.
func (h *harness) event(t *testing.T, typ, id string) map[string]any {
	t.Helper()
	var d map[string]any
	h.events.wait(t, func(e events.Envelope) bool {
		if e.Type != typ || e.Key != id {
			return false
		}
		if e.Producer != "posts" {
			t.Errorf("producer = %q", e.Producer)
		}
		return json.Unmarshal(e.Data, &d) == nil
	})
	return d
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
