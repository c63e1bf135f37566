package seed

import (
	"bytes"
	"image/jpeg"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFollowGraphIsDeterministic(t *testing.T) {
	a, b := FollowGraph(200, 10, 7), FollowGraph(200, 10, 7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different graphs:\n%s", diff)
	}
	if cmp.Equal(a, FollowGraph(200, 10, 8)) {
		t.Fatal("another seed gave the same graph")
	}
}

func TestFollowGraphShape(t *testing.T) {
	const n, per = 1000, 10
	edges := FollowGraph(n, per, 1)
	followers := make([]int, n)
	seen := map[[2]int]bool{}
	for _, e := range edges {
		if e[0] == e[1] {
			t.Fatalf("self-follow %v", e)
		}
		if seen[e] {
			t.Fatalf("duplicate edge %v", e)
		}
		seen[e] = true
		followers[e[1]]++
	}
	if len(edges) != n*per {
		t.Errorf("%d edges, want %d (every user follows %d)", len(edges), n*per, per)
	}
	// A power law: the top account is followed by most users, the median by very few.
	slices.Sort(followers)
	slices.Reverse(followers)
	top, median := followers[0], followers[n/2]
	if top < n/2 || median > per {
		t.Errorf("followers: top %d, median %d; want a heavy head (≥ %d) and a light median (≤ %d)", top, median, n/2, per)
	}
	var top10 int
	for _, f := range followers[:n/100] {
		top10 += f
	}
	if share := float64(top10) / float64(len(edges)); share < 0.3 {
		t.Errorf("the top 1%% of accounts hold %.0f%% of follows, want ≥ 30%%", 100*share)
	}
}

func TestFollowGraphSmall(t *testing.T) {
	if FollowGraph(1, 10, 1) != nil {
		t.Error("one user cannot follow anyone")
	}
	// With 5 users and 10 follows each, everyone follows all 4 others.
	if got := len(FollowGraph(5, 10, 1)); got != 20 {
		t.Errorf("5 users: %d edges, want 20", got)
	}
}

func TestPicks(t *testing.T) {
	p := Picks(10, 3, 4, 1, 2)
	if len(p) != 3 || slices.Contains(p, 4) || !cmp.Equal(p, Picks(10, 3, 4, 1, 2)) {
		t.Errorf("Picks = %v", p)
	}
	if got := Picks(3, 5, 0, 1, 2); len(got) != 2 {
		t.Errorf("Picks of 3 without one = %v, want 2 numbers", got)
	}
}

func TestPhotosAreJPEGs(t *testing.T) {
	ps, err := Photos(3)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if _, err := jpeg.Decode(bytes.NewReader(p)); err != nil {
			t.Errorf("photo %d: %v", i, err)
		}
	}
	if bytes.Equal(ps[0], ps[1]) {
		t.Error("photos are not distinct")
	}
}
