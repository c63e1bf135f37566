// Package feedredis keeps the home timelines in Redis: one sorted set per user,
// timeline:<user id>, whose members are post ids scored by their creation time in
// milliseconds. Equal scores sort by member, so the set's order is the feed's order
// (created_at, id) and a cursor is exact.
//
// A built timeline holds a sentinel member scored +inf: it marks the timeline as built
// even when it has no post (so an empty feed is not rebuilt on every read), and it is
// the highest rank, so trimming by rank from the low end never removes it. Pages read
// scores up to a finite maximum and never see it. Writes go through a script that adds
// only to timelines that exist: a missing timeline is rebuilt on its next read anyway,
// and a write must not make a partial one look built.
package feedredis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"instant/services/feed/internal/feed"
)

// Timelines implements feed.Timelines.
type Timelines struct {
	rdb *redis.Client
	cap int
	ttl time.Duration
}

var _ feed.Timelines = (*Timelines)(nil)

// New keeps up to cap posts per timeline; a timeline unread for ttl expires.
func New(rdb *redis.Client, cap int, ttl time.Duration) *Timelines {
	return &Timelines{rdb: rdb, cap: cap, ttl: ttl}
}

// Key is the Redis key of user's timeline.
func Key(user string) string { return "timeline:" + user }

// Sentinel is the member that marks a timeline as built.
const Sentinel = "built"

// maxScore is above every millisecond timestamp and below the sentinel's +inf.
const maxScore = "9007199254740991"

// batch is how many timelines one pipeline writes: big enough that a fan-out to
// thousands of followers is a few round trips, small enough to keep each reply small.
const batch = 500

// addScript adds score/member pairs (ARGV[2..]) to the timeline KEYS[1] if it exists and
// trims it to ARGV[1] posts plus the sentinel.
var addScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], unpack(ARGV, 2))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 2))
return 1
`)

// Page reads up to n refs after the cursor, the timeline's size (none: it does not
// exist; more than the cap: it is full) and renews its lifetime, in one round trip (a second one only when equal timestamps at the
// cursor fill the first).
func (t *Timelines) Page(ctx context.Context, user string, after *feed.Ref, n int) (feed.TimelinePage, error) {
	k := Key(user)
	max := maxScore
	if after != nil {
		max = strconv.FormatInt(after.Ms, 10)
	}
	var out feed.TimelinePage
	for offset := 0; ; {
		by := &redis.ZRangeBy{Max: max, Min: "-inf", Offset: int64(offset), Count: int64(n)}
		var zs []redis.Z
		if offset == 0 {
			pipe := t.rdb.Pipeline()
			card := pipe.ZCard(ctx, k)
			rng := pipe.ZRevRangeByScoreWithScores(ctx, k, by)
			pipe.Expire(ctx, k, t.ttl)
			if _, err := pipe.Exec(ctx); err != nil {
				return feed.TimelinePage{}, fmt.Errorf("read timeline: %w", err)
			}
			// A built timeline always holds the sentinel: no members, no timeline.
			out.Exists = card.Val() > 0
			out.Full = card.Val() > int64(t.cap)
			zs = rng.Val()
		} else {
			var err error
			if zs, err = t.rdb.ZRevRangeByScoreWithScores(ctx, k, by).Result(); err != nil {
				return feed.TimelinePage{}, fmt.Errorf("read timeline: %w", err)
			}
		}
		for _, z := range zs {
			id, _ := z.Member.(string)
			r := feed.Ref{Ms: int64(z.Score), ID: id}
			// Equal timestamps sort by id: those at the cursor's millisecond from its id
			// up were on earlier pages.
			if id == Sentinel || after != nil && r.Ms == after.Ms && r.ID >= after.ID {
				continue
			}
			out.Refs = append(out.Refs, r)
			if len(out.Refs) == n {
				return out, nil
			}
		}
		if len(zs) < n {
			return out, nil
		}
		offset += len(zs)
	}
}

// Begin creates user's timeline with only the sentinel.
func (t *Timelines) Begin(ctx context.Context, user string) error {
	k := Key(user)
	pipe := t.rdb.TxPipeline()
	pipe.ZAdd(ctx, k, redis.Z{Score: math.Inf(1), Member: Sentinel})
	pipe.Expire(ctx, k, t.ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("begin timeline: %w", err)
	}
	return nil
}

// Add puts refs into every existing timeline of users, trimmed to the cap, pipelined in
// batches.
func (t *Timelines) Add(ctx context.Context, users []string, refs []feed.Ref) error {
	if len(users) == 0 || len(refs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(refs))
	args = append(args, t.cap)
	for _, r := range refs {
		args = append(args, r.Ms, r.ID)
	}
	for len(users) > 0 {
		n := min(len(users), batch)
		if err := t.addBatch(ctx, users[:n], args); err != nil {
			return fmt.Errorf("add to timelines: %w", err)
		}
		users = users[n:]
	}
	return nil
}

func (t *Timelines) addBatch(ctx context.Context, users []string, args []any) error {
	run := func() error {
		pipe := t.rdb.Pipeline()
		for _, u := range users {
			addScript.EvalSha(ctx, pipe, []string{Key(u)}, args...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted or flushed its scripts: load it and go again (every write is
		// idempotent).
		if err := addScript.Load(ctx, t.rdb).Err(); err != nil {
			return err
		}
		err = run()
	}
	return err
}

// Remove takes ids out of each of users' timelines, pipelined in batches.
func (t *Timelines) Remove(ctx context.Context, users []string, ids []string) error {
	if len(users) == 0 || len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	for len(users) > 0 {
		n := min(len(users), batch)
		pipe := t.rdb.Pipeline()
		for _, u := range users[:n] {
			pipe.ZRem(ctx, Key(u), members...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("remove from timelines: %w", err)
		}
		users = users[n:]
	}
	return nil
}

// Members returns the post ids in user's timeline.
func (t *Timelines) Members(ctx context.Context, user string) ([]string, error) {
	all, err := t.rdb.ZRange(ctx, Key(user), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("timeline members: %w", err)
	}
	out := all[:0]
	for _, m := range all {
		if m != Sentinel {
			out = append(out, m)
		}
	}
	return out, nil
}

// Drop deletes user's timeline.
func (t *Timelines) Drop(ctx context.Context, user string) error {
	if err := t.rdb.Del(ctx, Key(user)).Err(); err != nil {
		return fmt.Errorf("drop timeline: %w", err)
	}
	return nil
}
