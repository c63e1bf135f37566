package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/service"
	"instant/platform/testenv"
	"instant/services/feed/internal/config"
	"instant/services/feed/internal/feedredis"
)

const (
	testSecret    = "test-identity-secret-0123456789abcdef"
	usersTopic    = "user.events"
	postsTopic    = "post.events"
	followsTopic  = "follow.events"
	likesTopic    = "like.events"
	commentsTopic = "comment.events"
	dlqTopic      = "feed.dlq"
	// In tests an author with more than two followers is a celebrity, and a timeline
	// keeps eight posts, so both paths show with a handful of posts.
	threshold   = 2
	timelineCap = 8
)

var topics = []string{usersTopic, postsTopic, followsTopic, likesTopic, commentsTopic, dlqTopic}

// backend is where the app keeps its read model and timelines: the real servers
// (required under CI) or the embedded stand-ins of the one-machine stack.
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

// env is the environment of an app on the given stores.
func env(dsn, redisURL string, brokers []string) map[string]string {
	return map[string]string{
		"IDENTITY_SECRET":          testSecret,
		"DATABASE_URL":             dsn,
		"REDIS_URL":                redisURL,
		"KAFKA_BROKERS":            strings.Join(brokers, ","),
		"FEED_CELEBRITY_THRESHOLD": fmt.Sprint(threshold),
		"FEED_TIMELINE_CAP":        fmt.Sprint(timelineCap),
		"LOG_LEVEL":                "error",
	}
}

// harness is the app as run builds it, a Kafka cluster, a producer that publishes
// events as auth, posts, follow, likes and comments do, and a Redis client to look at
// the timelines. No other service exists.
type harness struct {
	handler  http.Handler
	app      *app
	proc     *service.Process
	signer   *identity.Signer
	brokers  []string
	producer *events.Producer
	rdb      *redis.Client
	// clock hands out post times: a millisecond apart, in order of publishing.
	clock atomic.Int64
}

func newHarness(t *testing.T, b backend) *harness {
	t.Helper()
	return startHarness(t, env(b.db(t), b.redis(t), testenv.Kafka(t, topics...)))
}

func startHarness(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	cfg, proc, err := service.Start("feed", func(k string) string { return vars[k] }, testenv.LogWriter(t),
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
	p, err := events.NewProducer(events.Conn{Brokers: cfg.Brokers}, "test-producers", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	t.Cleanup(func() { rdb.Close() })
	h := &harness{handler: a.handler, app: a, proc: proc, signer: signer, brokers: cfg.Brokers, producer: p, rdb: rdb}
	h.clock.Store(time.Now().UTC().Add(-time.Hour).UnixMilli())
	return h
}

// testWriter sends the service's log lines to the test log, shown only on failure.
// publish sends an event as its producer's outbox relay would: an envelope keyed by the
// aggregate id. It returns the envelope, for redelivery tests.
func (h *harness) publish(t *testing.T, topic, typ, producer, key string, data any) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(typ, producer, key, data)
	if err != nil {
		t.Fatal(err)
	}
	h.send(t, topic, e)
	return e
}

// send publishes an envelope as it is: twice with one envelope is a redelivery.
func (h *harness) send(t *testing.T, topic string, e events.Envelope) {
	t.Helper()
	if err := h.producer.PublishEnvelope(context.Background(), topic, e); err != nil {
		t.Fatal(err)
	}
}

// user signs a user up as auth announces it and returns the id.
func (h *harness) user(t *testing.T, username string) string {
	t.Helper()
	id := uuid.NewString()
	h.publish(t, usersTopic, "user.created", "auth", id, map[string]any{"id": id, "username": username, "created_at": time.Now().UTC()})
	return id
}

func (h *harness) deleteUser(t *testing.T, id string) {
	t.Helper()
	h.publish(t, usersTopic, "user.deleted", "auth", id, map[string]any{"id": id})
}

// post publishes post.created as posts does and returns the post id.
func (h *harness) post(t *testing.T, author, caption string) string {
	t.Helper()
	return h.postAt(t, author, caption, time.UnixMilli(h.clock.Add(1)).UTC())
}

func (h *harness) postAt(t *testing.T, author, caption string, at time.Time) string {
	t.Helper()
	id := uuid.NewString()
	h.publish(t, postsTopic, "post.created", "posts", id, map[string]any{
		"id": id, "user_id": author, "caption": caption, "image_key": imageKey(author, id),
		"hashtags": []string{}, "mentions": []string{}, "created_at": at, "updated_at": at,
	})
	return id
}

func imageKey(author, post string) string { return "users/" + author + "/" + post + ".jpg" }

func (h *harness) deletePost(t *testing.T, id, author string) {
	t.Helper()
	h.publish(t, postsTopic, "post.deleted", "posts", id, map[string]any{"id": id, "user_id": author, "image_key": imageKey(author, id)})
}

func (h *harness) follow(t *testing.T, follower, followee string) {
	t.Helper()
	h.publish(t, followsTopic, "follow.created", "follow", follower,
		map[string]any{"follower_id": follower, "followee_id": followee, "created_at": time.Now().UTC()})
}

func (h *harness) unfollow(t *testing.T, follower, followee string) {
	t.Helper()
	h.publish(t, followsTopic, "follow.deleted", "follow", follower,
		map[string]any{"follower_id": follower, "followee_id": followee, "created_at": time.Now().UTC()})
}

func (h *harness) like(t *testing.T, post, user string) events.Envelope {
	t.Helper()
	return h.publish(t, likesTopic, "like.created", "likes", post, map[string]any{"post_id": post, "user_id": user, "created_at": time.Now().UTC()})
}

func (h *harness) comment(t *testing.T, post, user string) events.Envelope {
	t.Helper()
	id := uuid.NewString()
	return h.publish(t, commentsTopic, "comment.created", "comments", post,
		map[string]any{"id": id, "post_id": post, "user_id": user, "body": "nice", "created_at": time.Now().UTC()})
}

// call is one request; as signs the identity header for a user.
type call struct {
	method, path string
	as           string
	header       map[string]string
}

func (h *harness) do(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
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

func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
	}
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
}

// itemJSON is a post as the API answers it.
type itemJSON struct {
	ID     string `json:"id"`
	Author struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"author"`
	ImageURL     string    `json:"image_url"`
	ImageKey     string    `json:"image_key"`
	Caption      string    `json:"caption"`
	LikeCount    int64     `json:"like_count"`
	CommentCount int64     `json:"comment_count"`
	LikedByMe    bool      `json:"liked_by_me"`
	CreatedAt    time.Time `json:"created_at"`
}

type pageJSON struct {
	Items      []itemJSON `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

type profileJSON struct {
	User struct {
		ID        string    `json:"id"`
		Username  string    `json:"username"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"user"`
	PostCount      int64      `json:"post_count"`
	FollowersCount int64      `json:"followers_count"`
	FollowingCount int64      `json:"following_count"`
	FollowedByMe   bool       `json:"followed_by_me"`
	Posts          []itemJSON `json:"posts"`
	NextCursor     string     `json:"next_cursor"`
}

type errorBody struct {
	Error struct {
		Code   string            `json:"code"`
		Fields map[string]string `json:"fields"`
	} `json:"error"`
}

// page GETs a list (the feed, explore) as viewer and decodes it.
func (h *harness) page(t *testing.T, viewer, path string) pageJSON {
	t.Helper()
	rec := h.do(t, call{path: path, as: viewer})
	mustStatus(t, rec, http.StatusOK)
	var p pageJSON
	decode(t, rec, &p)
	return p
}

func (h *harness) feed(t *testing.T, viewer string) pageJSON {
	return h.page(t, viewer, "/api/feed?limit=100")
}

// profile GETs a profile as viewer; ok is false on a 404.
func (h *harness) profile(t *testing.T, viewer, path string) (profileJSON, bool) {
	t.Helper()
	rec := h.do(t, call{path: path, as: viewer})
	if rec.Code == http.StatusNotFound {
		return profileJSON{}, false
	}
	mustStatus(t, rec, http.StatusOK)
	var p profileJSON
	decode(t, rec, &p)
	return p, true
}

func ids(items []itemJSON) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// eventually polls cond until it returns "" or the deadline passes: events are
// applied asynchronously, and tests never assert a wall-clock time.
func eventually(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not in time: %s", msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// feedIs waits until viewer's feed is exactly want, in order.
func (h *harness) feedIs(t *testing.T, viewer string, want ...string) pageJSON {
	t.Helper()
	var p pageJSON
	eventually(t, func() string {
		p = h.feed(t, viewer)
		if got := ids(p.Items); fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
			return fmt.Sprintf("feed = %v, want %v", got, want)
		}
		return ""
	})
	return p
}

// followers waits until user's profile shows n followers.
func (h *harness) followersAre(t *testing.T, user string, n int64) {
	t.Helper()
	eventually(t, func() string {
		p, ok := h.profile(t, user, "/api/profiles/id/"+user)
		if !ok || p.FollowersCount != n {
			return fmt.Sprintf("profile found=%v followers=%d, want %d", ok, p.FollowersCount, n)
		}
		return ""
	})
}

// postCount waits until author's profile shows n posts.
func (h *harness) postsAre(t *testing.T, author string, n int64) {
	t.Helper()
	eventually(t, func() string {
		p, ok := h.profile(t, author, "/api/profiles/id/"+author)
		if !ok || p.PostCount != n {
			return fmt.Sprintf("profile found=%v posts=%d, want %d", ok, p.PostCount, n)
		}
		return ""
	})
}

// settled waits until every queued timeline task has run, so that counters read next
// see no write of an earlier test arrive late.
func (h *harness) settled(t *testing.T) {
	t.Helper()
	eventually(t, func() string {
		var n int64
		if err := h.app.db.Raw(`SELECT COUNT(*) FROM timeline_tasks`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			return fmt.Sprintf("%d timeline tasks still queued", n)
		}
		return ""
	})
}

// inTimeline reports whether post is in user's Redis timeline.
func (h *harness) inTimeline(t *testing.T, user, post string) bool {
	t.Helper()
	_, err := h.rdb.ZScore(context.Background(), feedredis.Key(user), post).Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return err == nil
}

// metric reads a counter (or a histogram's count) by name and labels, e.g.
// `feed_reads_total{source="redis"}`.
func metric(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName()+labels(m) != name {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
