// Package load drives a workload against instant, either at a fixed arrival rate (open
// model: requests start on schedule whether or not earlier ones have answered, latency
// counted from the scheduled start) or with a fixed number of users each waiting for an
// answer before the next request (closed model: for finding saturation).
package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"instant/tools/loadgen/internal/api"
	"instant/tools/loadgen/internal/report"
	"instant/tools/loadgen/internal/seed"
)

// Workloads, by name. Mixed is DeathStarBench's social-network mix: 60% home timeline,
// 30% user timeline, 10% compose.
const (
	HomeTimeline = "read-home-timeline"
	UserTimeline = "read-user-timeline"
	ComposePost  = "compose-post"
	Like         = "like"
	Comment      = "comment"
	Follow       = "follow"
	Login        = "login"
	Mixed        = "mixed"
)

// Workloads lists every workload name.
var Workloads = []string{HomeTimeline, UserTimeline, ComposePost, Like, Comment, Follow, Login, Mixed}

// Endpoints lists the endpoints each workload calls: what a run of it must report.
var Endpoints = map[string][]string{
	HomeTimeline: {api.EPHomeFeed},
	UserTimeline: {api.EPUserPosts},
	ComposePost:  {api.EPUploadURL, api.EPStoragePut, api.EPCreatePost},
	Like:         {api.EPLike},
	Comment:      {api.EPComment},
	Follow:       {api.EPFollow},
	Login:        {api.EPRequestCode, api.EPVerifyCode},
	Mixed:        {api.EPHomeFeed, api.EPUserPosts, api.EPUploadURL, api.EPStoragePut, api.EPCreatePost},
}

// Config is one run.
type Config struct {
	Workload    string
	Rate        float64 // operations per second (open model); ignored when Concurrency > 0
	Concurrency int     // users in a closed loop
	Duration    time.Duration
	// MaxInFlight bounds the open model's concurrent operations so a stalled server
	// cannot exhaust the generator; operations held back still count from their
	// scheduled start.
	MaxInFlight int
	// Observe, when set, also receives every sample (the live metrics of a continuous run).
	Observe api.Recorder
}

// maxFailures is how many failure messages a report keeps as examples.
const maxFailures = 5

type runner struct {
	c      *api.Client
	st     *seed.State
	photos [][]byte
	rec    *report.Recorder
	sink   api.Recorder // rec, or rec and the run's observer
	ops    atomic.Int64 // operations finished, failed or not
	locks  []sync.Mutex // one sign-in at a time per user: codes are read by address

	deck     atomic.Uint64 // the mixed workload's position in its deck
	mu       sync.Mutex
	failures []string
}

// Run runs cfg against the seeded population st and returns the report.
func Run(ctx context.Context, c *api.Client, st *seed.State, cfg Config) (report.Report, error) {
	if !slices.Contains(Workloads, cfg.Workload) {
		return report.Report{}, fmt.Errorf("unknown workload %q", cfg.Workload)
	}
	if len(st.Users) < 2 {
		return report.Report{}, errors.New("the population needs at least 2 users")
	}
	if (cfg.Workload == Like || cfg.Workload == Comment) && len(st.Posts) == 0 {
		return report.Report{}, errors.New("the like and comment workloads need seeded posts (-posts > 0)")
	}
	photos, err := seed.Photos(8)
	if err != nil {
		return report.Report{}, err
	}
	start := time.Now()
	r := &runner{c: c, st: st, photos: photos, rec: report.New(start), locks: make([]sync.Mutex, len(st.Users))}
	r.sink = r.rec
	if cfg.Observe != nil {
		r.sink = tee{r.rec, cfg.Observe}
	}
	op := r.operation(cfg.Workload)
	if cfg.Concurrency > 0 {
		r.closed(ctx, op, cfg, start)
	} else {
		if cfg.Rate <= 0 {
			return report.Report{}, errors.New("the open model needs a rate > 0")
		}
		r.open(ctx, op, cfg, start)
	}
	rep := r.rec.Snapshot(time.Since(start))
	rep.Workload, rep.Users, rep.Operations = cfg.Workload, len(st.Users), r.ops.Load()
	if rep.Duration > 0 {
		rep.OpsPerSecond = float64(rep.Operations) / rep.Duration
	}
	if cfg.Concurrency > 0 {
		rep.Model, rep.Concurrency = "closed", cfg.Concurrency
	} else {
		rep.Model, rep.Rate = "open", cfg.Rate
	}
	rep.Failures = r.failures
	return rep, nil
}

// open starts an operation every 1/rate seconds. A worker that starts late (all
// in-flight slots busy, or the scheduler itself late) still measures from the schedule.
func (r *runner) open(ctx context.Context, op func(context.Context, *api.Op) error, cfg Config, start time.Time) {
	sem := make(chan struct{}, max(cfg.MaxInFlight, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		offset := time.Duration(float64(i) / cfg.Rate * float64(time.Second))
		if offset >= cfg.Duration {
			return
		}
		intended := start.Add(offset)
		if d := time.Until(intended); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.note(op(ctx, api.NewOp(r.sink, intended)))
		})
	}
}

// closed runs Concurrency users, each starting its next operation when the last ends.
func (r *runner) closed(ctx context.Context, op func(context.Context, *api.Op) error, cfg Config, start time.Time) {
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				r.note(op(ctx, api.NewOp(r.sink, time.Now())))
			}
		})
	}
	wg.Wait()
}

// tee records a sample twice.
type tee [2]api.Recorder

func (t tee) Record(endpoint string, status int, err error, latency time.Duration, done time.Time) {
	t[0].Record(endpoint, status, err, latency, done)
	t[1].Record(endpoint, status, err, latency, done)
}

// note counts a finished operation and keeps the first failures' messages. An operation
// cut off by the end of the run is not counted.
func (r *runner) note(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	r.ops.Add(1)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < maxFailures {
		r.failures = append(r.failures, err.Error())
	}
}

func (r *runner) operation(name string) func(context.Context, *api.Op) error {
	switch name {
	case HomeTimeline:
		return r.homeTimeline
	case UserTimeline:
		return r.userTimeline
	case ComposePost:
		return r.compose
	case Like:
		return r.like
	case Comment:
		return r.comment
	case Follow:
		return r.follow
	case Login:
		return r.login
	default:
		return r.mixed
	}
}

func (r *runner) user() int { return rand.IntN(len(r.st.Users)) }

func (r *runner) homeTimeline(ctx context.Context, op *api.Op) error {
	return r.c.HomeFeed(ctx, op, r.st.Users[r.user()])
}

// userTimeline reads the posts of someone the reader follows, so popular accounts are
// read most, as their follower counts say; a reader who follows nobody reads anyone.
func (r *runner) userTimeline(ctx context.Context, op *api.Op) error {
	u := r.user()
	target := r.user()
	if u < len(r.st.Followees) && len(r.st.Followees[u]) > 0 {
		target = r.st.Followees[u][rand.IntN(len(r.st.Followees[u]))]
	}
	return r.c.UserPosts(ctx, op, r.st.Users[u], r.st.Users[target].UserID)
}

func (r *runner) compose(ctx context.Context, op *api.Op) error {
	s := r.st.Users[r.user()]
	key, err := r.c.Upload(ctx, op, s, r.photos[rand.IntN(len(r.photos))])
	if err != nil {
		return err
	}
	_, err = r.c.CreatePost(ctx, op, s, "under load #loadgen", key)
	return err
}

func (r *runner) post() string { return r.st.Posts[rand.IntN(len(r.st.Posts))].ID }

func (r *runner) like(ctx context.Context, op *api.Op) error {
	return r.c.Like(ctx, op, r.st.Users[r.user()], r.post())
}

func (r *runner) comment(ctx context.Context, op *api.Op) error {
	return r.c.Comment(ctx, op, r.st.Users[r.user()], r.post(), "nice one")
}

func (r *runner) follow(ctx context.Context, op *api.Op) error {
	u := r.user()
	t := (u + 1 + rand.IntN(len(r.st.Users)-1)) % len(r.st.Users) // anyone but u
	return r.c.Follow(ctx, op, r.st.Users[u], r.st.Users[t].UserID)
}

// login signs a seeded user in again. Codes are read from the inbox by address, so a
// user signs in once at a time: the first free user is taken, or the operation waits
// for one (and that wait counts, from the scheduled start).
func (r *runner) login(ctx context.Context, op *api.Op) error {
	n := len(r.st.Users)
	first := r.user()
	u := -1
	for i := range n {
		if r.locks[(first+i)%n].TryLock() {
			u = (first + i) % n
			break
		}
	}
	if u < 0 {
		u = first
		r.locks[u].Lock()
	}
	defer r.locks[u].Unlock()
	s := r.st.Users[u]
	_, err := r.c.SignIn(ctx, op, s.Email, s.Username)
	return err
}

// mixed deals the operations from a scrambled deck of 100 (37 is coprime with 100, so
// i*37 mod 100 visits every slot once per 100 operations): the proportions are exact
// over every 100 operations, interleaved, and short runs still do some of each.
func (r *runner) mixed(ctx context.Context, op *api.Op) error {
	switch slot := r.deck.Add(1) * 37 % 100; {
	case slot < 60:
		return r.homeTimeline(ctx, op)
	case slot < 90:
		return r.userTimeline(ctx, op)
	default:
		return r.compose(ctx, op)
	}
}
