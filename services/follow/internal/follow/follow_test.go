package follow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{At: time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC), UserID: "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"}
	s := c.Encode()
	if strings.ContainsAny(s, "+/=|") {
		t.Fatalf("cursor %q is not URL-safe", s)
	}
	back, err := DecodeCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeCursorRefusesGarbage(t *testing.T) {
	for _, s := range []string{"", "!!!", "bm9wZQ", Cursor{At: time.Now(), UserID: "x"}.Encode(),
		Cursor{At: time.Now(), UserID: "0B7F8A39-1F4E-4A57-9C6A-8A2B1B7D9E11"}.Encode()} {
		var fe *FieldError
		if _, err := DecodeCursor(s); !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("DecodeCursor(%q) = %v, want a cursor field error", s, err)
		}
	}
}

// listStore serves a fixed list, newest first, honouring cursor and limit.
type listStore struct {
	Store
	edges []Edge
}

func (s listStore) Followers(_ context.Context, _ string, after *Cursor, limit int) ([]Edge, error) {
	var out []Edge
	for _, e := range s.edges {
		if after != nil && !(e.FollowedAt.Before(after.At) || e.FollowedAt.Equal(after.At) && e.UserID < after.UserID) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

const user = "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"

func TestPages(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{"e", "d", "c", "b", "a"}
	var edges []Edge
	for i, id := range ids {
		edges = append(edges, Edge{UserID: id, FollowedAt: base.Add(-time.Duration(i) * time.Second)})
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(listStore{edges: edges}, nil, m)
	for _, limit := range []int{1, 2, 4, 5, 6} {
		var got []string
		var after *Cursor
		pages := 0
		for {
			p, err := svc.Followers(context.Background(), user, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range p.Items {
				got = append(got, e.UserID)
			}
			if p.Next == nil {
				break
			}
			after = p.Next
		}
		if !cmp.Equal(got, ids) {
			t.Fatalf("limit %d: %v, want %v", limit, got, ids)
		}
		if want := (len(ids) + limit - 1) / limit; pages != want {
			t.Fatalf("limit %d: %d pages, want %d (no empty last page)", limit, pages, want)
		}
	}
}

func TestRules(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(listStore{}, nil, m)
	ctx := context.Background()
	if _, err := svc.Follow(ctx, user, user); !errors.Is(err, ErrSelfFollow) {
		t.Errorf("self follow = %v", err)
	}
	if _, err := svc.Follow(ctx, user, "nope"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("follow of a malformed id = %v", err)
	}
	if _, err := svc.Unfollow(ctx, "nope", user); !errors.Is(err, ErrInvalidID) {
		t.Errorf("unfollow by a malformed actor = %v", err)
	}
	if _, err := svc.Followers(ctx, "nope", nil, 5); !errors.Is(err, ErrInvalidID) {
		t.Errorf("followers of a malformed id = %v", err)
	}
	var fe *FieldError
	if _, err := svc.Counts(ctx, nil); !errors.As(err, &fe) || fe.Field != "user_ids" {
		t.Errorf("counts of nobody = %v", err)
	}
	many := make([]string, MaxBatch+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	if _, err := svc.Counts(ctx, many); !errors.As(err, &fe) || fe.Field != "user_ids" {
		t.Errorf("counts of %d users = %v", len(many), err)
	}
}
