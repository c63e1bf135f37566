package seed

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
)

// ZipfS is the exponent of the follower distribution: with s a little above 1, a handful
// of accounts collect most follows and most accounts have a few, as on real networks.
const ZipfS = 1.2

// FollowGraph returns the follow edges [follower, followee] among n users: each user
// follows up to perUser distinct others, drawn by a Zipf law over a shuffled ranking of
// the users, so followers per account follow a power law. The same seed gives the same
// graph.
func FollowGraph(n, perUser int, seed uint64) [][2]int {
	if n < 2 || perUser < 1 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 1))
	rank := r.Perm(n) // rank[0] is the most followed account
	z := rand.NewZipf(r, ZipfS, 1, uint64(n-1))
	k := min(perUser, n-1)
	var edges [][2]int
	for u := range n {
		seen := make(map[int]bool, k)
		// Bounded: with few users the popular ones are soon all taken.
		for try := 0; len(seen) < k && try < 50*k; try++ {
			t := rank[z.Uint64()]
			if t == u || seen[t] {
				continue
			}
			seen[t] = true
			edges = append(edges, [2]int{u, t})
		}
	}
	return edges
}

// Picks returns k distinct numbers in [0, n) other than not, the same for the same
// (seed, stream): who likes or comments on a post.
func Picks(n, k, not int, seed, stream uint64) []int {
	r := rand.New(rand.NewPCG(seed, stream))
	var out []int
	for _, i := range r.Perm(n) {
		if len(out) == k {
			break
		}
		if i != not {
			out = append(out, i)
		}
	}
	return out
}

// Photos returns n small, distinct, real JPEGs, as a phone would upload (scaled down).
func Photos(n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for x := range 64 {
			for y := range 48 {
				img.Set(x, y, color.RGBA{uint8(4*x + 29*i), uint8(5*y + 13*i), uint8(40 * i), 255})
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}
