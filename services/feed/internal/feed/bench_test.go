package feed_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/feed/internal/feed"
	"instant/services/feed/internal/feeddb"
	"instant/services/feed/internal/feedredis"
)

// The benchmarks run on real PostgreSQL and Redis (they skip loudly without them):
//
//	go test ./internal/feed/ -run '^$' -bench . -benchtime 200x

const benchThreshold = 5000

type bench struct {
	db   *gorm.DB
	rdb  *redis.Client
	svc  *feed.Service
	proj *feed.Projector
	st   *feeddb.Store
}

func newBench(b *testing.B) *bench {
	b.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, testenv.Postgres(b), database.Options{Log: logging.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "feed", feeddb.Migrations()); err != nil {
		b.Fatal(err)
	}
	opt, err := redis.ParseURL(testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	m, err := feed.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	o := feed.Options{Cap: 800, Threshold: benchThreshold, Backfill: 50}
	st := feeddb.New(db)
	tl := feedredis.New(rdb, o.Cap, time.Hour)
	return &bench{db: db, rdb: rdb, st: st, svc: feed.NewService(st, tl, o, m, logging.Discard()),
		proj: feed.NewProjector(st, tl, o, m, logging.Discard())}
}

func (bn *bench) exec(b *testing.B, sql string, args ...any) {
	b.Helper()
	if err := bn.db.Exec(sql, args...).Error; err != nil {
		b.Fatal(err)
	}
}

// seq is a uuid per (prefix, i), generated in SQL: '<prefix>-0000-4000-8000-<i>'.
const seq = `('%s-0000-4000-8000-' || lpad(to_hex(%s), 12, '0'))::uuid`

func seqID(prefix string, i int) string { return fmt.Sprintf("%s-0000-4000-8000-%012x", prefix, i) }

// BenchmarkHomePage assembles the first page (20 posts) of the home feed of a viewer who
// follows n accounts, three of them celebrities whose posts are merged at read time.
// Every followee has posted twice; the viewer's timeline is in Redis. The cost should not
// grow with n: a timeline range, the followed celebrities found by primary key among the
// few celebrities, their newest posts, and one primary-key read of the page's posts.
func BenchmarkHomePage(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("following=%d", n), func(b *testing.B) {
			bn := newBench(b)
			ctx := context.Background()
			viewer := uuid.NewString()
			prefix := fmt.Sprintf("%08x", n)
			bn.exec(b, `INSERT INTO follows (follower_id, followee_id, created_at)
				SELECT ?, `+fmt.Sprintf(seq, prefix, "i")+`, now() FROM generate_series(1, ?) i`, viewer, n)
			bn.exec(b, `INSERT INTO users (id, username, created_at, renamed_at)
				SELECT `+fmt.Sprintf(seq, prefix, "i")+`, 'u' || i, now(), now() FROM generate_series(1, ?) i`, n)
			bn.exec(b, `INSERT INTO post_views (id, user_id, caption, image_key, created_at, created_ms)
				SELECT gen_random_uuid(), `+fmt.Sprintf(seq, prefix, "(i % ?) + 1")+`, 'caption', 'key', now(),
					1700000000000 + i * 1000 FROM generate_series(1, ?) i`, n, 2*n)
			bn.exec(b, `INSERT INTO user_stats (user_id, followers_count, post_count)
				SELECT `+fmt.Sprintf(seq, prefix, "i")+`, CASE WHEN i <= 3 THEN ? ELSE 1 END, 2 FROM generate_series(1, ?) i`,
				benchThreshold*10, n)
			bn.exec(b, `INSERT INTO post_likes (post_id, user_id) SELECT id, ? FROM post_views WHERE created_ms % 3 = 0`, viewer)
			bn.exec(b, `VACUUM ANALYZE`)
			// The first read rebuilds the timeline; the benchmark measures the reads after.
			p, err := bn.svc.Home(ctx, viewer, nil, 20)
			if err != nil || len(p.Items) != 20 {
				b.Fatalf("first page: %d items, %v", len(p.Items), err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := bn.svc.Home(ctx, viewer, nil, 20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFanOut publishes one post by an author with n followers, each with a timeline
// in Redis, and runs its fan-out: the post view's insert and the timeline writes,
// pipelined in batches. Above the celebrity threshold the post goes to the author's own
// timeline only, so the cost is bounded whatever n is.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			bn := newBench(b)
			ctx := context.Background()
			author := uuid.NewString()
			prefix := fmt.Sprintf("f%07x", n)
			bn.exec(b, `INSERT INTO follows (follower_id, followee_id, created_at)
				SELECT `+fmt.Sprintf(seq, prefix, "i")+`, ?, now() FROM generate_series(1, ?) i`, author, n)
			bn.exec(b, `INSERT INTO user_stats (user_id, followers_count) VALUES (?, ?)`, author, n)
			bn.exec(b, `VACUUM ANALYZE`)
			// Followers below the threshold have timelines to write to.
			tl := feedredis.New(bn.rdb, 800, time.Hour)
			if n <= benchThreshold {
				pipe := bn.rdb.Pipeline()
				for i := 1; i <= n; i++ {
					pipe.ZAdd(ctx, feedredis.Key(seqID(prefix, i)), redis.Z{Score: math.Inf(1), Member: feedredis.Sentinel})
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if err := tl.Begin(ctx, author); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				i++
				post := feed.Post{ID: uuid.NewString(), UserID: author, Caption: "c", ImageKey: "k", CreatedAt: start.Add(time.Duration(i) * time.Millisecond)}
				if err := bn.st.AddPost(ctx, feed.Mark{Consumer: "bench", EventID: uuid.NewString()}, post); err != nil {
					b.Fatal(err)
				}
				if err := bn.proj.Drain(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n <= benchThreshold {
				if c := bn.rdb.ZCard(ctx, feedredis.Key(seqID(prefix, n))).Val(); c < 2 {
					b.Fatalf("the last follower's timeline holds %d members: no fan-out happened", c)
				}
			}
		})
	}
}
