package feed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"instant/platform/logging"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Ref{Ms: 1767225600123, ID: "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"}
	s := c.Encode()
	if strings.ContainsAny(s, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", s)
	}
	back, err := DecodeCursor(s)
	if err != nil || back != c {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func TestDecodeCursorRefusesGarbage(t *testing.T) {
	for _, s := range []string{"", "!!!", "bm9wZQ", Ref{Ms: 1, ID: "x"}.Encode(), Ref{Ms: -5, ID: "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"}.Encode(),
		Ref{Ms: 1, ID: "0B7F8A39-1F4E-4A57-9C6A-8A2B1B7D9E11"}.Encode()} {
		var fe *FieldError
		if _, err := DecodeCursor(s); !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("DecodeCursor(%q) = %v, want a cursor field error", s, err)
		}
	}
}

// world is an in-memory read model and timeline for one viewer.
type world struct {
	Store
	items    map[string]Item // every post, InNetwork as the viewer sees it
	celebs   []string
	timeline []Ref // the viewer's Redis timeline, newest first
	exists   bool
	full     bool
	failing  bool // the timeline's reads fail
	forgot   []string
	begun    int
}

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func page(refs []Ref, after *Ref, n int) []Ref {
	var out []Ref
	for _, r := range refs {
		if after != nil && !after.Newer(r) {
			continue
		}
		if len(out) == n {
			break
		}
		out = append(out, r)
	}
	return out
}

func (w *world) byAuthor(authors []string) []Ref {
	var out []Ref
	for _, it := range w.items {
		if slices.Contains(authors, it.Author.ID) {
			out = append(out, it.Ref)
		}
	}
	return sortUnique(out)
}

func (w *world) FollowedCelebrities(context.Context, string, int) ([]string, error) {
	return w.celebs, nil
}
func (w *world) AuthorsRefs(_ context.Context, authors []string, after *Ref, n int) ([]Ref, error) {
	return page(w.byAuthor(authors), after, n), nil
}
func (w *world) Items(_ context.Context, _ string, ids []string) (map[string]Item, error) {
	out := map[string]Item{}
	for _, id := range ids {
		if it, ok := w.items[id]; ok {
			out[id] = it
		}
	}
	return out, nil
}
func (w *world) network() []Ref {
	var out []Ref
	for _, it := range w.items {
		if it.InNetwork {
			out = append(out, it.Ref)
		}
	}
	return sortUnique(out)
}
func (w *world) NetworkRefs(_ context.Context, _ string, after *Ref, n int) ([]Ref, error) {
	return page(w.network(), after, n), nil
}
func (w *world) NetworkItems(ctx context.Context, v string, after *Ref, n int) ([]Item, error) {
	var out []Item
	for _, r := range page(w.network(), after, n) {
		out = append(out, w.items[r.ID])
	}
	return out, nil
}

func (w *world) Page(_ context.Context, _ string, after *Ref, n int) (TimelinePage, error) {
	if w.failing {
		return TimelinePage{}, errors.New("connection refused")
	}
	return TimelinePage{Refs: page(w.timeline, after, n), Exists: w.exists, Full: w.full}, nil
}
func (w *world) Begin(context.Context, string) error { w.begun++; w.exists = true; return nil }
func (w *world) Add(_ context.Context, _ []string, refs []Ref) error {
	w.timeline = sortUnique(append(w.timeline, refs...))
	return nil
}
func (w *world) Remove(_ context.Context, _ []string, ids []string) error {
	w.forgot = append(w.forgot, ids...)
	return nil
}
func (w *world) Drop(context.Context, string) error                { w.exists = false; return nil }
func (w *world) Members(context.Context, string) ([]string, error) { return nil, nil }

const viewer = "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"

// newWorld: posts 0..29, a millisecond apart in pairs; authors a (followed, fanned out),
// c (a followed celebrity), s (not followed). Some of a's timeline refs are gone.
func newWorld() (*world, []string) {
	w := &world{items: map[string]Item{}, celebs: []string{"c"}, exists: true}
	var visible []Ref
	for i := range 30 {
		author := []string{"a", "c", "a", "s"}[i%4]
		r := Ref{Ms: 1000 + int64(i/2), ID: id(i)}
		it := Item{Ref: r, Author: Author{ID: author}, InNetwork: author != "s"}
		switch {
		case author == "a" && i%5 == 0:
			// Deleted since its fan-out: in the timeline, not in the read model.
			w.timeline = append(w.timeline, r)
			continue
		case author == "a":
			w.timeline = append(w.timeline, r)
		case author == "s" && i%7 == 0:
			// Unfollowed: still in the timeline, no longer in the network.
			w.timeline = append(w.timeline, r)
		}
		w.items[r.ID] = it
		if it.InNetwork {
			visible = append(visible, r)
		}
	}
	w.timeline = sortUnique(w.timeline)
	var want []string
	for _, r := range sortUnique(visible) {
		want = append(want, r.ID)
	}
	return w, want
}

func service(w *world) (*Service, *Metrics) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	return NewService(w, w, Options{Cap: 100, Threshold: 2, Backfill: 5}, m, logging.Discard()), m
}

func walk(t *testing.T, s *Service, limit int) []string {
	t.Helper()
	var got []string
	var after *Ref
	for pages := 0; ; pages++ {
		p, err := s.Home(context.Background(), viewer, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if p.Next == nil {
			return got
		}
		if pages > 100 {
			t.Fatal("endless pages")
		}
		after = p.Next
	}
}

// TestHomeMerges pages through a timeline merged with a celebrity's posts, with gone
// posts in the timeline, at every page size: the visible posts, in order, each once.
func TestHomeMerges(t *testing.T) {
	for limit := 1; limit <= 12; limit++ {
		w, want := newWorld()
		s, _ := service(w)
		if diff := cmp.Diff(want, walk(t, s, limit)); diff != "" {
			t.Fatalf("limit %d (-want +got):\n%s", limit, diff)
		}
		if len(w.forgot) == 0 {
			t.Fatalf("limit %d: gone posts were not removed from the timeline", limit)
		}
		for _, f := range w.forgot {
			if it, ok := w.items[f]; ok && it.InNetwork {
				t.Fatalf("a visible post %s was removed from the timeline", f)
			}
		}
	}
}

// TestHomeContinuesPastTheCap: a full timeline holds only the newest posts; the pages
// after it come from the read model.
func TestHomeContinuesPastTheCap(t *testing.T) {
	w, want := newWorld()
	w.timeline = w.timeline[:4]
	w.full = true
	s, _ := service(w)
	if diff := cmp.Diff(want, walk(t, s, 3)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestHomeRebuildsOnce(t *testing.T) {
	w, want := newWorld()
	w.timeline, w.exists = nil, false
	s, m := service(w)
	if diff := cmp.Diff(want, walk(t, s, 100)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	walk(t, s, 100)
	if w.begun != 1 || testutil.ToFloat64(m.rebuilds) != 1 {
		t.Fatalf("rebuilt %d times (metric %v), want once", w.begun, testutil.ToFloat64(m.rebuilds))
	}
	if got := testutil.ToFloat64(m.reads.WithLabelValues(SourceRebuild)); got != 1 {
		t.Fatalf("rebuild reads = %v", got)
	}
}

func TestHomeFallsBack(t *testing.T) {
	w, want := newWorld()
	w.failing = true
	s, m := service(w)
	if diff := cmp.Diff(want, walk(t, s, 4)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if testutil.ToFloat64(m.reads.WithLabelValues(SourceFallback)) == 0 {
		t.Fatal("no fallback read counted")
	}
}

func TestHomeRefusesMalformedViewer(t *testing.T) {
	w, _ := newWorld()
	s, _ := service(w)
	if _, err := s.Home(context.Background(), "nope", nil, 5); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.ProfileByID(context.Background(), viewer, "nope", nil, 5); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.ProfileByName(context.Background(), viewer, strings.Repeat("x", 100), nil, 5); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("err = %v", err)
	}
}
