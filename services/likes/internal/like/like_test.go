package like

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParsePostIDs(t *testing.T) {
	const a, b = "0190f1c2-7a3b-7c4d-8e5f-0123456789ab", "0190f1c2-7a3b-7c4d-8e5f-0123456789ac"
	ok := []struct {
		in   string
		want []string
	}{
		{a, []string{a}},
		{a + "," + strings.ToUpper(b), []string{a, b}},
		{b + ", " + a + "," + b, []string{b, a, b}},
		{strings.TrimSuffix(strings.Repeat(a+",", MaxBatch), ","), strings.Split(strings.TrimSuffix(strings.Repeat(a+",", MaxBatch), ","), ",")},
	}
	for _, tt := range ok {
		got, err := ParsePostIDs(tt.in)
		if err != nil {
			t.Fatalf("ParsePostIDs(%.40q): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Fatalf("ParsePostIDs(%.40q) (-want +got):\n%s", tt.in, diff)
		}
	}
	bad := map[string]string{
		"":       "is required",
		a + ",":  "must be comma-separated UUIDs",
		a + ",,": "must be comma-separated UUIDs",
		"1,2":    "must be comma-separated UUIDs",
		strings.TrimSuffix(strings.Repeat(a+",", MaxBatch+1), ","): "must list at most 100 ids",
	}
	for in, problem := range bad {
		var fe *FieldError
		if _, err := ParsePostIDs(in); !errors.As(err, &fe) || fe.Field != "post_ids" || fe.Problem != problem {
			t.Errorf("ParsePostIDs(%.40q) err = %v, want post_ids: %s", in, err, problem)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC), UserID: "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"}
	got, err := ParseCursor(c.Encode())
	if err != nil || got == nil || !got.CreatedAt.Equal(c.CreatedAt) || got.UserID != c.UserID {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for _, bad := range []string{"!!", "aGVsbG8", Cursor{UserID: "x"}.Encode()} {
		var fe *FieldError
		if _, err := ParseCursor(bad); !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("ParseCursor(%q) err = %v, want a cursor field error", bad, err)
		}
	}
}

// countingPosts is a Posts that counts calls and answers from a map; err, when set, is
// the answer to everything.
type countingPosts struct {
	mu    sync.Mutex
	posts map[string]string
	err   error
	calls atomic.Int64
	gate  chan struct{} // when set, calls wait on it
}

func (p *countingPosts) Post(ctx context.Context, id string) (Post, error) {
	p.calls.Add(1)
	if p.gate != nil {
		<-p.gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return Post{}, p.err
	}
	owner, ok := p.posts[id]
	if !ok {
		return Post{}, ErrPostNotFound
	}
	return Post{ID: id, UserID: owner}, nil
}

func (p *countingPosts) set(id, owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if owner == "" {
		delete(p.posts, id)
		return
	}
	p.posts[id] = owner
}

func newCache(t *testing.T, next Posts, ttl time.Duration, size int) (*PostCache, *Metrics) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return NewPostCache(next, ttl, size, m), m
}

// TestPostCache covers what PostCache adds to the mechanism, which platform/cache tests
// (expiry, the bound, shared calls): this package's errors and the lookup counters.
func TestPostCache(t *testing.T) {
	ctx := context.Background()
	t.Run("hit_within_ttl_counted", func(t *testing.T) {
		p := &countingPosts{posts: map[string]string{"a": "owner"}}
		c, m := newCache(t, p, 2*time.Second, 10)
		for range 3 {
			got, err := c.Post(ctx, "a")
			if err != nil || got != (Post{ID: "a", UserID: "owner"}) {
				t.Fatalf("Post = %v, %v", got, err)
			}
		}
		if n := p.calls.Load(); n != 1 {
			t.Fatalf("posts called %d times within the TTL, want 1", n)
		}
		if hits, calls := testutil.ToFloat64(m.fromCache), testutil.ToFloat64(m.fromPosts); hits != 2 || calls != 1 {
			t.Fatalf("post_lookups_total cache=%v posts=%v, want 2 and 1", hits, calls)
		}
	})
	t.Run("not_found_not_cached", func(t *testing.T) {
		p := &countingPosts{posts: map[string]string{}}
		c, _ := newCache(t, p, time.Minute, 10)
		if _, err := c.Post(ctx, "a"); !errors.Is(err, ErrPostNotFound) {
			t.Fatalf("err = %v", err)
		}
		p.set("a", "owner") // created a moment later: found at once
		if _, err := c.Post(ctx, "a"); err != nil {
			t.Fatalf("a post created after a 404 is not found: %v", err)
		}
	})
	t.Run("caller_gone_503_shared_call_continues", func(t *testing.T) {
		p := &countingPosts{posts: map[string]string{"a": "1"}, gate: make(chan struct{})}
		c, _ := newCache(t, p, time.Minute, 10)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := c.Post(cctx, "a")
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for p.calls.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		close(p.gate)
		deadline = time.Now().Add(10 * time.Second)
		for c.cache.Len() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if c.cache.Len() != 1 {
			t.Fatal("the shared call did not complete after its first caller left")
		}
	})
}

// fakeStore is a Store whose Like and Unlike report the change they are told to.
type fakeStore struct {
	changed bool
}

func (s *fakeStore) Like(_ context.Context, postID, _ string, _ time.Time) (State, bool, error) {
	return State{PostID: postID, Liked: true, Count: 1}, s.changed, nil
}

func (s *fakeStore) Unlike(_ context.Context, postID, _ string) (State, bool, error) {
	return State{PostID: postID}, s.changed, nil
}

func (s *fakeStore) Likers(context.Context, string, *Cursor, int) ([]Like, error) { return nil, nil }

func (s *fakeStore) Summaries(_ context.Context, ids []string, _ string) ([]Summary, error) {
	out := make([]Summary, len(ids))
	for i, id := range ids {
		out[i] = Summary{PostID: id}
	}
	return out, nil
}

// TestRules covers what the routes cannot arrange: counters move only on real changes,
// and an unlike needs no answer from posts.
func TestRules(t *testing.T) {
	const post = "0190f1c2-7a3b-7c4d-8e5f-000000000001"
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := &fakeStore{}
	posts := &countingPosts{posts: map[string]string{post: "owner"}}
	svc := NewService(store, posts, m)
	for _, changed := range []bool{true, false, true} {
		store.changed = changed
		if _, err := svc.Like(ctx, "u", post); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Unlike(ctx, "u", post); err != nil {
			t.Fatal(err)
		}
	}
	mfs, _ := reg.Gather()
	got := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 {
			got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got["likes_created_total"] != 2 || got["likes_deleted_total"] != 2 {
		t.Fatalf("counters = %v, want 2 and 2: repeats do not count", got)
	}
	posts.mu.Lock()
	posts.err = ErrUnavailable
	posts.mu.Unlock()
	if _, err := svc.Unlike(ctx, "u", post); err != nil {
		t.Fatalf("unlike while posts is down: %v", err)
	}
	if _, err := svc.Like(ctx, "u", post); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("like while posts is down: err = %v, want ErrUnavailable", err)
	}
	if _, err := svc.Like(ctx, "u", "nope"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("like of a malformed id: err = %v", err)
	}
}
