package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Options are the knobs of timelines, shared by the reads (Service) and the writes
// (Projector).
type Options struct {
	// Cap is how many posts a timeline keeps.
	Cap int
	// Threshold: authors with more followers are celebrities, merged at read time
	// instead of fanned out on write.
	Threshold int
	// Backfill is how many recent posts a new follow copies into the timeline.
	Backfill int
}

// Service holds the read use cases: the home feed, explore and profiles. Every answer
// comes from the read model and the timelines alone, never from another service, so
// the feed keeps answering (with counts as fresh as the last event) while posts, likes
// or comments are down.
type Service struct {
	store   Store
	tl      Timelines
	opt     Options
	metrics *Metrics
	log     *slog.Logger
}

// NewService returns the read use cases.
func NewService(store Store, tl Timelines, opt Options, metrics *Metrics, log *slog.Logger) *Service {
	return &Service{store: store, tl: tl, opt: opt, metrics: metrics, log: log}
}

// timelineError marks a failure of the timelines (Redis), which the home feed survives
// by reading the read model alone.
type timelineError struct{ err error }

func (e *timelineError) Error() string { return "timeline: " + e.err.Error() }
func (e *timelineError) Unwrap() error { return e.err }

// maxRounds bounds how many times one page goes back to its sources because the posts
// it got were gone (deleted, or by someone no longer followed) and left the page short.
const maxRounds = 4

// slack is how many refs beyond a page each round asks for, so that a few gone posts
// cost no second round.
const slack = 8

// refSource returns up to n refs after the cursor, newest first.
type refSource func(ctx context.Context, after *Ref, n int) ([]Ref, error)

// Home returns a page of viewer's home feed: the posts of viewer and the people they
// follow, newest first. The page is the viewer's Redis timeline (rebuilt from the read
// model when missing) merged with the recent posts of the celebrities they follow,
// which are never fanned out. When Redis fails, the page comes from the read model
// alone: slower, and the same posts.
func (s *Service) Home(ctx context.Context, viewer string, after *Ref, limit int) (Page, error) {
	if !ValidID(viewer) {
		return Page{}, ErrInvalidID
	}
	celebs, err := s.store.FollowedCelebrities(ctx, viewer, s.opt.Threshold)
	if err != nil {
		return Page{}, fmt.Errorf("home: %w", err)
	}
	source := SourceRedis
	timeline := func(ctx context.Context, after *Ref, n int) ([]Ref, error) {
		tp, err := s.tl.Page(ctx, viewer, after, n)
		if err != nil {
			return nil, &timelineError{err}
		}
		if !tp.Exists && source != SourceRebuild {
			if err := s.rebuild(ctx, viewer); err != nil {
				return nil, err
			}
			source = SourceRebuild
			if tp, err = s.tl.Page(ctx, viewer, after, n); err != nil {
				return nil, &timelineError{err}
			}
		}
		refs := tp.Refs
		if len(refs) < n && tp.Full {
			// The timeline keeps only the newest posts; older pages continue in the read
			// model from the oldest one it had.
			pos := after
			if len(refs) > 0 {
				pos = &refs[len(refs)-1]
			}
			older, err := s.store.NetworkRefs(ctx, viewer, pos, n-len(refs))
			if err != nil {
				return nil, err
			}
			refs = append(refs, older...)
		}
		return refs, nil
	}
	sources := []refSource{timeline}
	if len(celebs) > 0 {
		sources = append(sources, func(ctx context.Context, after *Ref, n int) ([]Ref, error) {
			return s.store.AuthorsRefs(ctx, celebs, after, n)
		})
	}
	p, err := s.assemble(ctx, viewer, after, limit, sources)
	var te *timelineError
	if errors.As(err, &te) {
		s.log.WarnContext(ctx, "timeline unavailable, reading the feed from the read model", "err", te.err)
		source = SourceFallback
		var items []Item
		items, err = s.store.NetworkItems(ctx, viewer, after, limit+1)
		p = pageOf(items, limit)
	}
	if err != nil {
		return Page{}, fmt.Errorf("home: %w", err)
	}
	s.metrics.reads.WithLabelValues(source).Inc()
	return p, nil
}

// rebuild makes viewer's timeline again from the read model. The timeline is created
// first, so a fan-out that commits while the read model is read still lands in it; the
// rebuild adds to whatever is there rather than replacing it.
func (s *Service) rebuild(ctx context.Context, viewer string) error {
	if err := s.tl.Begin(ctx, viewer); err != nil {
		return &timelineError{err}
	}
	refs, err := s.store.NetworkRefs(ctx, viewer, nil, s.opt.Cap)
	if err != nil {
		s.dropQuietly(ctx, viewer)
		return err
	}
	if err := s.tl.Add(ctx, []string{viewer}, refs); err != nil {
		s.dropQuietly(ctx, viewer)
		return &timelineError{err}
	}
	s.metrics.rebuilds.Inc()
	return nil
}

// dropQuietly removes a timeline whose rebuild failed halfway, so the next read
// rebuilds it instead of trusting a partial one.
func (s *Service) dropQuietly(ctx context.Context, viewer string) {
	if err := s.tl.Drop(context.WithoutCancel(ctx), viewer); err != nil {
		s.log.WarnContext(ctx, "dropping a half-built timeline", "err", err)
	}
}

// assemble merges the sources into one page of visible posts. Each round reads every
// source from the same position; the merge is complete only down to the newest of the
// last refs of the sources that have more, so the page is cut there and the next round
// continues from it. Refs whose post is gone or whose author the viewer no longer
// follows are skipped, and dropped from the viewer's timeline on the way.
func (s *Service) assemble(ctx context.Context, viewer string, after *Ref, limit int, sources []refSource) (Page, error) {
	var out []Item
	pos := after
	for range maxRounds {
		n := limit + 1 - len(out) + slack
		var merged []Ref
		var horizon *Ref
		for _, src := range sources {
			refs, err := src(ctx, pos, n)
			if err != nil {
				return Page{}, err
			}
			merged = append(merged, refs...)
			if len(refs) >= n {
				if last := refs[len(refs)-1]; horizon == nil || last.Newer(*horizon) {
					horizon = &last
				}
			}
		}
		merged = sortUnique(merged)
		if horizon != nil {
			cut := len(merged)
			for cut > 0 && horizon.Newer(merged[cut-1]) {
				cut--
			}
			merged = merged[:cut]
		}
		ids := make([]string, len(merged))
		for i, r := range merged {
			ids[i] = r.ID
		}
		items, err := s.store.Items(ctx, viewer, ids)
		if err != nil {
			return Page{}, err
		}
		var gone []string
		for _, r := range merged {
			it, ok := items[r.ID]
			if !ok || !it.InNetwork {
				gone = append(gone, r.ID)
				continue
			}
			out = append(out, it)
			if len(out) > limit {
				break
			}
		}
		s.forget(ctx, viewer, gone)
		if len(out) > limit {
			return Page{Items: out[:limit], Next: &out[limit-1].Ref}, nil
		}
		if horizon == nil || len(merged) == 0 {
			return Page{Items: out}, nil
		}
		last := merged[len(merged)-1]
		pos = &last
	}
	// Many gone posts in a row: a short page, and a cursor past what was looked at.
	return Page{Items: out, Next: pos}, nil
}

// forget removes refs the viewer can no longer see from their timeline. It is tidying:
// the reads skip such refs anyway, so a failure is only logged.
func (s *Service) forget(ctx context.Context, viewer string, ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := s.tl.Remove(ctx, []string{viewer}, ids); err != nil {
		s.log.DebugContext(ctx, "removing gone posts from a timeline", "err", err)
	}
}

// sortUnique sorts refs newest first and drops repeated ids.
func sortUnique(refs []Ref) []Ref {
	slices.SortFunc(refs, func(a, b Ref) int {
		switch {
		case a.Newer(b):
			return -1
		case b.Newer(a):
			return 1
		}
		return 0
	})
	return slices.CompactFunc(refs, func(a, b Ref) bool { return a.ID == b.ID })
}

// pageOf turns limit+1 items read from the store into a page.
func pageOf(items []Item, limit int) Page {
	if len(items) > limit {
		return Page{Items: items[:limit], Next: &items[limit-1].Ref}
	}
	return Page{Items: items}
}

// Explore returns a page of everyone's posts, newest first: what a new account with an
// empty feed can look at.
func (s *Service) Explore(ctx context.Context, viewer string, after *Ref, limit int) (Page, error) {
	items, err := s.store.RecentItems(ctx, viewer, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("explore: %w", err)
	}
	return pageOf(items, limit), nil
}

// ProfileByID returns the profile of the account with the id.
func (s *Service) ProfileByID(ctx context.Context, viewer, id string, after *Ref, limit int) (Profile, error) {
	if !ValidID(id) {
		return Profile{}, ErrInvalidID
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	return s.profile(ctx, viewer, u, after, limit)
}

// maxUsernameLen bounds a username looked up; auth allows 30.
const maxUsernameLen = 64

// ProfileByName returns the profile of the account with the username (any case).
func (s *Service) ProfileByName(ctx context.Context, viewer, username string, after *Ref, limit int) (Profile, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || len(username) > maxUsernameLen {
		return Profile{}, ErrUserNotFound
	}
	u, err := s.store.UserByName(ctx, username)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	return s.profile(ctx, viewer, u, after, limit)
}

func (s *Service) profile(ctx context.Context, viewer string, u User, after *Ref, limit int) (Profile, error) {
	st, err := s.store.Stats(ctx, viewer, u.ID)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	items, err := s.store.AuthorItems(ctx, viewer, u.ID, after, limit+1)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	return Profile{User: u, Stats: st, Posts: pageOf(items, limit)}, nil
}
