// Package seed fills instant with a population to load — users signed up through the
// real sign-in flow, a power-law follow graph, posts with uploaded photos, likes and
// comments — through the public API only, and remembers what it made in a state file so
// that a second run reuses it and an interrupted one resumes.
package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"instant/tools/loadgen/internal/api"
)

// Config says what population to build.
type Config struct {
	Users           int
	FollowsPerUser  int
	PostsPerUser    int
	LikesPerPost    int
	CommentsPerPost int
	Seed            uint64 // fixes the follow graph and who likes and comments on what
	Prefix          string // emails are <prefix>.<n>@example.com, usernames <prefix>_<n>
	Workers         int    // requests in flight while seeding
	Log             io.Writer
}

// Post is a seeded post.
type Post struct {
	ID     string `json:"id"`
	Author int    `json:"author"` // index into State.Users
}

// State is what has been made so far; it is the state file's content.
type State struct {
	Base  string        `json:"base"` // the gateway last seeded through, for the record
	Seed  uint64        `json:"seed"`
	Users []api.Session `json:"users"`
	// FollowGraphUsers is the user count the follows were made for; FollowsDone counts
	// the graph's edges made so far.
	FollowGraphUsers int    `json:"follow_graph_users"`
	FollowsDone      int    `json:"follows_done"`
	PostsUsersDone   int    `json:"posts_users_done"` // users whose posts are all made
	Posts            []Post `json:"posts"`
	LikesDone        int    `json:"likes_done"`    // posts whose likes are made
	CommentsDone     int    `json:"comments_done"` // posts whose comments are made
	// Followees lists, per user, whom they follow in the graph: the workloads read the
	// timelines of people users follow.
	Followees [][]int `json:"followees"`
}

const stateFile = "state.json"

// batch is how many items are made between two saves of the state: an interrupted run
// redoes at most one batch (follows and likes are idempotent; a comment may be repeated).
const batch = 64

// Run makes whatever of cfg the state in dir lacks and returns the complete state.
func Run(ctx context.Context, c *api.Client, base, dir string, cfg Config) (*State, error) {
	if cfg.Workers < 1 {
		cfg.Workers = 8
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	st, err := load(dir)
	if err != nil {
		return nil, err
	}
	// The gateway's address may change between runs (make bench picks free ports); the
	// stack is recognised by its users instead (checkStack).
	st.Base = base
	if st.Seed != cfg.Seed {
		// Another seed, another graph and other likers: keep the users and posts.
		st.Seed, st.FollowGraphUsers, st.LikesDone, st.CommentsDone = cfg.Seed, 0, 0, 0
	}
	s := &seeder{c: c, dir: dir, cfg: cfg, st: st}
	if err := s.checkStack(ctx); err != nil {
		return nil, err
	}
	steps := []func(context.Context) error{s.users, s.follows, s.posts, s.likes, s.comments}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seed: read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("seed: state file %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

type seeder struct {
	c   *api.Client
	dir string
	cfg Config
	st  *State
	mu  sync.Mutex // guards st while workers run
}

func (s *seeder) save() error {
	s.mu.Lock()
	b, err := json.MarshalIndent(s.st, "", " ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("seed: write state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, stateFile))
}

func (s *seeder) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "seed: "+format+"\n", args...)
}

// checkStack starts over when the state describes another stack (its first user is
// gone: the stack's data was wiped) and signs in again every user whose session ended.
func (s *seeder) checkStack(ctx context.Context) error {
	if len(s.st.Users) == 0 {
		return nil
	}
	ok, err := s.c.UserExists(ctx, s.st.Users[0].UserID)
	if err != nil {
		return fmt.Errorf("seed: check state against the stack: %w", err)
	}
	if !ok {
		s.logf("the state file's users are not in this stack; seeding from scratch")
		*s.st = State{Base: s.st.Base, Seed: s.st.Seed}
		return nil
	}
	var renewed int
	err = s.parallel(ctx, 0, len(s.st.Users), func(ctx context.Context, i int) error {
		valid, err := s.c.SessionValid(ctx, s.st.Users[i])
		if err != nil || valid {
			return err
		}
		sess, err := s.signIn(ctx, i)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.st.Users[i] = sess
		renewed++
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if renewed > 0 {
		s.logf("signed in again %d users whose sessions had ended", renewed)
	}
	return s.save()
}

func (s *seeder) signIn(ctx context.Context, i int) (api.Session, error) {
	email := fmt.Sprintf("%s.%06d@example.com", s.cfg.Prefix, i)
	name := fmt.Sprintf("%s_%06d", s.cfg.Prefix, i)
	var sess api.Session
	err := retry(ctx, s.logf, func() error {
		var err error
		sess, err = s.c.SignIn(ctx, nil, email, name)
		return err
	})
	return sess, err
}

func (s *seeder) users(ctx context.Context) error {
	have := len(s.st.Users)
	if have >= s.cfg.Users {
		return nil
	}
	s.logf("signing up users %d..%d", have, s.cfg.Users-1)
	for from := have; from < s.cfg.Users; from += batch {
		to := min(from+batch, s.cfg.Users)
		made := make([]api.Session, to-from)
		if err := s.parallel(ctx, from, to, func(ctx context.Context, i int) error {
			sess, err := s.signIn(ctx, i)
			made[i-from] = sess
			return err
		}); err != nil {
			return err
		}
		s.mu.Lock()
		s.st.Users = append(s.st.Users, made...)
		s.mu.Unlock()
		if err := s.save(); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) follows(ctx context.Context) error {
	n := len(s.st.Users)
	edges := FollowGraph(n, s.cfg.FollowsPerUser, s.st.Seed)
	s.st.Followees = make([][]int, n)
	for _, e := range edges {
		s.st.Followees[e[0]] = append(s.st.Followees[e[0]], e[1])
	}
	if s.st.FollowGraphUsers != n {
		// Another population, another graph: make it all (following is idempotent).
		s.st.FollowGraphUsers, s.st.FollowsDone = n, 0
	}
	if s.st.FollowsDone >= len(edges) {
		return s.save()
	}
	s.logf("following: %d edges", len(edges)-s.st.FollowsDone)
	for from := s.st.FollowsDone; from < len(edges); from += batch {
		to := min(from+batch, len(edges))
		if err := s.parallel(ctx, from, to, func(ctx context.Context, i int) error {
			e := edges[i]
			return retry(ctx, s.logf, func() error {
				return s.c.Follow(ctx, nil, s.st.Users[e[0]], s.st.Users[e[1]].UserID)
			})
		}); err != nil {
			return err
		}
		s.st.FollowsDone = to
		if err := s.save(); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) posts(ctx context.Context) error {
	n := len(s.st.Users)
	if s.st.PostsUsersDone >= n || s.cfg.PostsPerUser < 1 {
		return nil
	}
	photos, err := Photos(8)
	if err != nil {
		return err
	}
	s.logf("posting: %d posts with photos", (n-s.st.PostsUsersDone)*s.cfg.PostsPerUser)
	for from := s.st.PostsUsersDone; from < n; from += batch {
		to := min(from+batch, n)
		if err := s.parallel(ctx, from, to, func(ctx context.Context, u int) error {
			for p := range s.cfg.PostsPerUser {
				var id string
				err := retry(ctx, s.logf, func() error {
					key, err := s.c.Upload(ctx, nil, s.st.Users[u], photos[(u+p)%len(photos)])
					if err != nil {
						return err
					}
					id, err = s.c.CreatePost(ctx, nil, s.st.Users[u], fmt.Sprintf("seeded photo %d of %s #loadgen", p, s.st.Users[u].Username), key)
					return err
				})
				if err != nil {
					return err
				}
				s.mu.Lock()
				s.st.Posts = append(s.st.Posts, Post{ID: id, Author: u})
				s.mu.Unlock()
			}
			return nil
		}); err != nil {
			return err
		}
		s.st.PostsUsersDone = to
		if err := s.save(); err != nil {
			return err
		}
	}
	return nil
}

// likes and comments go to each seeded post from users picked by the seed.
func (s *seeder) likes(ctx context.Context) error {
	return s.perPost(ctx, "liking", &s.st.LikesDone, s.cfg.LikesPerPost, 2, func(ctx context.Context, u int, p Post, _ int) error {
		return s.c.Like(ctx, nil, s.st.Users[u], p.ID)
	})
}

func (s *seeder) comments(ctx context.Context) error {
	return s.perPost(ctx, "commenting", &s.st.CommentsDone, s.cfg.CommentsPerPost, 3, func(ctx context.Context, u int, p Post, k int) error {
		return s.c.Comment(ctx, nil, s.st.Users[u], p.ID, fmt.Sprintf("seeded comment %d, lovely light", k))
	})
}

func (s *seeder) perPost(ctx context.Context, what string, done *int, per int, stream uint64,
	act func(ctx context.Context, user int, p Post, k int) error) error {
	posts := s.st.Posts
	if *done >= len(posts) || per < 1 || len(s.st.Users) < 2 {
		return nil
	}
	s.logf("%s: %d posts", what, len(posts)-*done)
	for from := *done; from < len(posts); from += batch {
		to := min(from+batch, len(posts))
		if err := s.parallel(ctx, from, to, func(ctx context.Context, i int) error {
			for k, u := range Picks(len(s.st.Users), per, posts[i].Author, s.st.Seed, stream<<32|uint64(i)) {
				if err := retry(ctx, s.logf, func() error { return act(ctx, u, posts[i], k) }); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		s.mu.Lock()
		*done = to
		s.mu.Unlock()
		if err := s.save(); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs fn for every i in [from, to) with cfg.Workers in flight and returns the
// first error, cancelling the rest.
func (s *seeder) parallel(ctx context.Context, from, to int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// retry repeats a call the gateway refused with 429 after the wait it asked for: with
// the default limits (20 sign-in codes a minute per address) seeding is slow but works.
func retry(ctx context.Context, logf func(string, ...any), call func() error) error {
	warned := false
	for {
		err := call()
		var se *api.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
			return err
		}
		if !warned {
			logf("rate limited (%s); waiting. Start the stack with raised limits, see the README", se.Endpoint)
			warned = true
		}
		wait := max(se.RetryAfter, time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
