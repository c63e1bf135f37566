package comment

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

func TestNormalizeBody(t *testing.T) {
	tests := []struct {
		name, in, want, problem string
	}{
		{"trimmed", "  hello\n", "hello", ""},
		{"newlines_and_tabs_kept", "a\n\tb\r\nc", "a\n\tb\r\nc", ""},
		{"max_runes", strings.Repeat("é", MaxBodyLen), strings.Repeat("é", MaxBodyLen), ""},
		{"max_runes_astral", strings.Repeat("😀", MaxBodyLen), strings.Repeat("😀", MaxBodyLen), ""},
		{"empty", "", "", "is required"},
		{"blank", " \n\t ", "", "is required"},
		{"too_long", strings.Repeat("a", MaxBodyLen+1), "", "must be at most 2200 characters"},
		{"nul", "a\x00b", "", "must not contain control characters"},
		{"escape", "a\x1b[31mb", "", "must not contain control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeBody(tt.in)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeBody = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "body" || fe.Problem != tt.problem {
				t.Fatalf("err = %v, want body: %s", err, tt.problem)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	const id = "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"
	tests := map[string]string{
		id:                                       id,
		strings.ToUpper(id):                      id,
		"0190f1c27a3b7c4d8e5f0123456789ab":       "",
		"{0190f1c2-7a3b-7c4d-8e5f-0123456789ab}": "",
		"urn:uuid:" + id:                         "",
		"not-a-uuid":                             "",
		"":                                       "",
	}
	for in, want := range tests {
		got, err := ParseID(in)
		if want == "" {
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("ParseID(%q) = %q, %v; want ErrInvalidID", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"}
	enc := c.Encode()
	if strings.ContainsAny(enc, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", enc)
	}
	got, err := ParseCursor(enc)
	if err != nil || got == nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if got, err := ParseCursor(""); got != nil || err != nil {
		t.Fatalf("empty cursor = %v, %v; want the first page", got, err)
	}
	for _, bad := range []string{"!!", "aGVsbG8", Cursor{ID: "x"}.Encode()} {
		var fe *FieldError
		if _, err := ParseCursor(bad); !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("ParseCursor(%q) err = %v, want a cursor field error", bad, err)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]int{"": DefaultLimit, "1": 1, "100": 100} {
		if got, err := ParseLimit(in); err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "101", "-1", "ten", "1.5"} {
		var fe *FieldError
		if _, err := ParseLimit(in); !errors.As(err, &fe) || fe.Field != "limit" {
			t.Errorf("ParseLimit(%q) err = %v, want a limit field error", in, err)
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

// fakeStore is an in-memory Store for the use-case tests.
type fakeStore struct {
	mu       sync.Mutex
	comments map[string]Comment
}

func (s *fakeStore) Create(_ context.Context, c Comment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comments[c.ID] = c
	return nil
}

func (s *fakeStore) Get(_ context.Context, id string) (Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok {
		return Comment{}, ErrNotFound
	}
	return c, nil
}

func (s *fakeStore) List(context.Context, string, *Cursor, int) ([]Comment, error) { return nil, nil }

func (s *fakeStore) SetBody(_ context.Context, id, userID, body string, at time.Time) (Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok || c.UserID != userID {
		return Comment{}, ErrNotFound
	}
	c.Body, c.UpdatedAt = body, at
	s.comments[id] = c
	return c, nil
}

func (s *fakeStore) Delete(_ context.Context, c Comment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.comments[c.ID]; !ok {
		return ErrNotFound
	}
	delete(s.comments, c.ID)
	return nil
}

// TestDeleteRules covers who may delete, including when posts cannot answer.
func TestDeleteRules(t *testing.T) {
	const (
		post   = "0190f1c2-7a3b-7c4d-8e5f-000000000001"
		author = "0190f1c2-7a3b-7c4d-8e5f-00000000000a"
		owner  = "0190f1c2-7a3b-7c4d-8e5f-00000000000b"
		other  = "0190f1c2-7a3b-7c4d-8e5f-00000000000c"
	)
	tests := []struct {
		name     string
		actor    string
		postsErr error
		gone     bool
		want     error
	}{
		{"author_ok", author, nil, false, nil},
		{"author_ok_posts_down", author, ErrUnavailable, false, nil},
		{"owner_ok", owner, nil, false, nil},
		{"other_forbidden", other, nil, false, ErrForbidden},
		{"other_forbidden_post_gone", other, nil, true, ErrForbidden},
		{"owner_unavailable_posts_down", owner, ErrUnavailable, false, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := NewMetrics(prometheus.NewRegistry())
			posts := &countingPosts{posts: map[string]string{post: owner}, err: tt.postsErr}
			if tt.gone {
				posts.set(post, "")
			}
			store := &fakeStore{comments: map[string]Comment{}}
			svc := NewService(store, posts, m)
			const id = "0190f1c2-7a3b-7c4d-8e5f-0000000000ff"
			store.comments[id] = Comment{ID: id, PostID: post, UserID: author, Body: "x"}
			_, err := svc.Delete(context.Background(), tt.actor, id)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			_, getErr := store.Get(context.Background(), id)
			if deleted := errors.Is(getErr, ErrNotFound); deleted != (tt.want == nil) {
				t.Fatalf("deleted = %v with err %v", deleted, err)
			}
		})
	}
}

func TestCreateChecksInputBeforePosts(t *testing.T) {
	m, _ := NewMetrics(prometheus.NewRegistry())
	posts := &countingPosts{posts: map[string]string{}}
	svc := NewService(&fakeStore{comments: map[string]Comment{}}, posts, m)
	_, err := svc.Create(context.Background(), "u", "0190f1c2-7a3b-7c4d-8e5f-000000000001", "   ")
	var fe *FieldError
	if !errors.As(err, &fe) || posts.calls.Load() != 0 {
		t.Fatalf("err = %v after %d posts calls; a bad body must be refused without asking posts", err, posts.calls.Load())
	}
	if diff := cmp.Diff(&FieldError{Field: "body", Problem: "is required"}, fe); diff != "" {
		t.Fatal(diff)
	}
}
