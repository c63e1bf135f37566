package feedredis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"instant/platform/testenv"
	"instant/services/feed/internal/feed"
)

// servers are the Redis servers the timelines run on: the real one (required under CI)
// and the embedded stand-in of the one-machine stack.
func servers() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"redis":     func(t *testing.T) string { return testenv.Redis(t) },
		"miniredis": func(t *testing.T) string { return "redis://" + miniredis.RunT(t).Addr() + "/0" },
	}
}

func open(t *testing.T, url string, cap int) (*Timelines, *redis.Client) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return New(rdb, cap, time.Hour), rdb
}

// refs makes n refs, newest first: pairs share a millisecond, so ties are broken by id.
func refs(n int) []feed.Ref {
	out := make([]feed.Ref, n)
	for i := range out {
		out[i] = feed.Ref{Ms: 1_700_000_000_000 - int64(i/2), ID: uuid.NewString()}
	}
	// Within a millisecond the newer is the greater id.
	for i := 0; i+1 < n; i += 2 {
		if out[i].ID < out[i+1].ID {
			out[i], out[i+1] = out[i+1], out[i]
		}
	}
	return out
}

func TestTimelines(t *testing.T) {
	for name, server := range servers() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tl, rdb := open(t, server(t), 6)
			user, other := uuid.NewString(), uuid.NewString()
			all := refs(9)

			// A missing timeline is reported and takes no writes.
			if err := tl.Add(ctx, []string{user}, all[:3]); err != nil {
				t.Fatal(err)
			}
			p, err := tl.Page(ctx, user, nil, 10)
			if err != nil || p.Exists || len(p.Refs) != 0 {
				t.Fatalf("page of a missing timeline = %+v, %v", p, err)
			}
			// Built and empty: exists, with nothing in it.
			if err := tl.Begin(ctx, user); err != nil {
				t.Fatal(err)
			}
			if p, err = tl.Page(ctx, user, nil, 10); err != nil || !p.Exists || p.Full || len(p.Refs) != 0 {
				t.Fatalf("page of an empty built timeline = %+v, %v", p, err)
			}
			if ttl := rdb.TTL(ctx, Key(user)).Val(); ttl <= 0 {
				t.Fatalf("timeline TTL = %v, want one", ttl)
			}
			// Added out of order, twice, for two users of whom one has a timeline.
			for range 2 {
				if err := tl.Add(ctx, []string{other, user}, append(append([]feed.Ref{}, all[4:]...), all[:4]...)); err != nil {
					t.Fatal(err)
				}
			}
			if n := rdb.Exists(ctx, Key(other)).Val(); n != 0 {
				t.Fatal("a write created a timeline that was never built")
			}
			// Capped at the newest 6; the sentinel survives the trim.
			p, err = tl.Page(ctx, user, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(all[:6], p.Refs); diff != "" || !p.Full {
				t.Fatalf("capped timeline (-want +got), full=%v:\n%s", p.Full, diff)
			}
			if s := rdb.ZScore(ctx, Key(user), Sentinel).Val(); s < 1e300 {
				t.Fatalf("sentinel score = %v", s)
			}
			// Pages of 1..6 walk it exactly, ties at the cursor included.
			for size := 1; size <= 6; size++ {
				var got []feed.Ref
				var after *feed.Ref
				for {
					p, err := tl.Page(ctx, user, after, size)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, p.Refs...)
					if len(p.Refs) < size {
						break
					}
					after = &p.Refs[len(p.Refs)-1]
				}
				if diff := cmp.Diff(all[:6], got); diff != "" {
					t.Fatalf("pages of %d (-want +got):\n%s", size, diff)
				}
			}
			members, err := tl.Members(ctx, user)
			if err != nil || len(members) != 6 {
				t.Fatalf("members = %v, %v", members, err)
			}
			if err := tl.Remove(ctx, []string{user, other}, []string{all[0].ID, all[3].ID}); err != nil {
				t.Fatal(err)
			}
			p, _ = tl.Page(ctx, user, nil, 10)
			if diff := cmp.Diff([]feed.Ref{all[1], all[2], all[4], all[5]}, p.Refs); diff != "" {
				t.Fatalf("after remove (-want +got):\n%s", diff)
			}
			if err := tl.Drop(ctx, user); err != nil {
				t.Fatal(err)
			}
			if p, _ = tl.Page(ctx, user, nil, 10); p.Exists {
				t.Fatal("dropped timeline still exists")
			}
		})
	}
}

// TestScriptReloaded: after Redis forgot its scripts, fan-out loads the script again.
func TestScriptReloaded(t *testing.T) {
	for name, server := range servers() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tl, rdb := open(t, server(t), 10)
			user := uuid.NewString()
			if err := tl.Begin(ctx, user); err != nil {
				t.Fatal(err)
			}
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := tl.Add(ctx, []string{user}, refs(1)); err != nil {
				t.Fatalf("add after SCRIPT FLUSH: %v", err)
			}
			if n := rdb.ZCard(ctx, Key(user)).Val(); n != 2 {
				t.Fatalf("timeline holds %d members, want the post and the sentinel", n)
			}
		})
	}
}

// TestFanOutBatches writes one post to more timelines than one pipeline takes.
func TestFanOutBatches(t *testing.T) {
	ctx := context.Background()
	tl, rdb := open(t, testenv.Redis(t), 10)
	users := make([]string, 2*batch+7)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
		if i%2 == 0 {
			if err := tl.Begin(ctx, users[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := refs(1)
	if err := tl.Add(ctx, users, r); err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		_, err := rdb.ZScore(ctx, Key(u), r[0].ID).Result()
		if got, want := err == nil, i%2 == 0; got != want {
			t.Fatalf("timeline %d holds the post: %v, want %v", i, got, want)
		}
	}
}
