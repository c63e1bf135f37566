package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Projector applies other services' events to the read model and keeps the timelines
// in step with it.
//
// Each event is applied by one Store call: the processed-event mark, the read-model
// change and, where timelines must change too, a queued Task commit together. The tasks
// then run after the commit, in queue order, by Drain — woken by each event and retried
// on a timer — and leave the queue only once Redis took their writes. So a crash or a
// Redis outage between the commit and the Redis writes delays them instead of losing
// them, and the consumer never holds up a partition (or dead-letters an event) because
// Redis is away.
type Projector struct {
	store   Store
	tl      Timelines
	opt     Options
	metrics *Metrics
	log     *slog.Logger

	wake chan struct{}
	// mu makes one Drain at a time run the queue, in order.
	mu sync.Mutex
}

// NewProjector returns the event side of the feed.
func NewProjector(store Store, tl Timelines, opt Options, metrics *Metrics, log *slog.Logger) *Projector {
	return &Projector{store: store, tl: tl, opt: opt, metrics: metrics, log: log, wake: make(chan struct{}, 1)}
}

// SaveUser applies user.created or user.updated.
func (p *Projector) SaveUser(ctx context.Context, m Mark, u User) error {
	return wrap("save user", p.store.SaveUser(ctx, m, u))
}

// DeleteUser applies user.deleted.
func (p *Projector) DeleteUser(ctx context.Context, m Mark, id string) error {
	return p.queued("delete user", p.store.DeleteUser(ctx, m, id, p.opt.Cap, p.opt.Threshold))
}

// AddPost applies post.created.
func (p *Projector) AddPost(ctx context.Context, m Mark, post Post) error {
	return p.queued("add post", p.store.AddPost(ctx, m, post))
}

// UpdatePost applies post.updated.
func (p *Projector) UpdatePost(ctx context.Context, m Mark, id, caption string) error {
	return wrap("update post", p.store.UpdatePost(ctx, m, id, caption))
}

// DeletePost applies post.deleted.
func (p *Projector) DeletePost(ctx context.Context, m Mark, id, userID string) error {
	return p.queued("delete post", p.store.DeletePost(ctx, m, id, userID))
}

// AddFollow applies follow.created.
func (p *Projector) AddFollow(ctx context.Context, m Mark, follower, followee string, at time.Time) error {
	return p.queued("add follow", p.store.AddFollow(ctx, m, follower, followee, at))
}

// RemoveFollow applies follow.deleted.
func (p *Projector) RemoveFollow(ctx context.Context, m Mark, follower, followee string) error {
	return p.queued("remove follow", p.store.RemoveFollow(ctx, m, follower, followee, p.opt.Threshold))
}

// AddLike applies like.created.
func (p *Projector) AddLike(ctx context.Context, m Mark, postID, userID string) error {
	return wrap("add like", p.store.AddLike(ctx, m, postID, userID))
}

// RemoveLike applies like.deleted.
func (p *Projector) RemoveLike(ctx context.Context, m Mark, postID, userID string) error {
	return wrap("remove like", p.store.RemoveLike(ctx, m, postID, userID))
}

// AddComment applies comment.created.
func (p *Projector) AddComment(ctx context.Context, m Mark, id, postID, userID string) error {
	return wrap("add comment", p.store.AddComment(ctx, m, id, postID, userID))
}

// RemoveComment applies comment.deleted.
func (p *Projector) RemoveComment(ctx context.Context, m Mark, id, postID string) error {
	return wrap("remove comment", p.store.RemoveComment(ctx, m, id, postID))
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// queued wakes the task runner after a change that may have queued a task.
func (p *Projector) queued(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.Notify()
	return nil
}

// Notify wakes Run to drain the task queue.
func (p *Projector) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run drains the task queue whenever notified, and every retry interval while tasks
// wait for Redis, until ctx ends.
func (p *Projector) Run(ctx context.Context, retry time.Duration) {
	tick := time.NewTicker(retry)
	defer tick.Stop()
	failing := false
	for {
		err := p.Drain(ctx)
		if ctx.Err() != nil {
			return
		}
		// Logged when the queue starts and stops failing, not on every retry.
		switch {
		case err != nil && !failing:
			p.log.WarnContext(ctx, "timeline tasks wait for a retry", "err", err)
		case err == nil && failing:
			p.log.InfoContext(ctx, "timeline tasks run again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// drainBatch is how many tasks one query takes from the queue.
const drainBatch = 100

// Drain runs the queued tasks in order until the queue is empty or one fails; it
// returns that failure, and the failed task stays queued. The tasks that ran are removed
// a batch at a time; every task is idempotent (timeline writes and removals), so a crash
// before the removal only runs them again.
func (p *Projector) Drain(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		tasks, err := p.store.PendingTasks(ctx, drainBatch)
		if err != nil {
			return fmt.Errorf("read timeline tasks: %w", err)
		}
		if len(tasks) == 0 {
			return nil
		}
		done := make([]int64, 0, len(tasks))
		var runErr error
		for _, t := range tasks {
			if err := p.run(ctx, t); err != nil {
				p.metrics.taskFailures.Inc()
				runErr = fmt.Errorf("timeline task %s (event %s): %w", t.Kind, t.EventID, err)
				break
			}
			done = append(done, t.Seq)
		}
		if err := p.store.FinishTasks(ctx, done); err != nil {
			return errors.Join(runErr, fmt.Errorf("finish timeline tasks: %w", err))
		}
		if runErr != nil {
			return runErr
		}
	}
}

func (p *Projector) run(ctx context.Context, t Task) error {
	switch t.Kind {
	case TaskFanOut:
		return p.fanOut(ctx, t.PostID)
	case TaskUnpost:
		return p.unpost(ctx, t.PostID, t.UserID)
	case TaskBackfill:
		return p.backfill(ctx, t.UserID, t.OtherID)
	case TaskUnfollow:
		return p.unfollow(ctx, t.UserID, t.OtherID)
	case TaskPurgeUser:
		return p.purgeUser(ctx, t.UserID, t.Followers, t.Posts)
	case TaskDemote:
		return p.demote(ctx, t.UserID)
	default:
		// Written by a newer version of the service: not this one's to run.
		p.log.ErrorContext(ctx, "unknown timeline task dropped", "kind", string(t.Kind), "event", t.EventID)
		return nil
	}
}

// followerPage is how many followers one fan-out step reads and writes.
const followerPage = 1000

// celebrity reports whether user has more followers than the threshold.
func (p *Projector) celebrity(ctx context.Context, user string) (bool, error) {
	n, err := p.store.FollowerCount(ctx, user)
	if err != nil {
		return false, err
	}
	return n > int64(p.opt.Threshold), nil
}

// eachFollowerPage calls fn with user's followers, a page at a time.
func (p *Projector) eachFollowerPage(ctx context.Context, user string, fn func(ids []string) error) error {
	after := ""
	for {
		ids, err := p.store.Followers(ctx, user, after, followerPage)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			if err := fn(ids); err != nil {
				return err
			}
		}
		if len(ids) < followerPage {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// fanOut writes a post into its author's timeline and, unless the author is a
// celebrity, into every follower's.
func (p *Projector) fanOut(ctx context.Context, postID string) error {
	ref, author, found, err := p.store.PostRef(ctx, postID)
	if err != nil || !found {
		return err // a post deleted before its fan-out ran needs none
	}
	start := time.Now()
	if err := p.tl.Add(ctx, []string{author}, []Ref{ref}); err != nil {
		return err
	}
	if celeb, err := p.celebrity(ctx, author); err != nil || celeb {
		return err
	}
	err = p.eachFollowerPage(ctx, author, func(ids []string) error {
		if err := p.tl.Add(ctx, ids, []Ref{ref}); err != nil {
			return err
		}
		p.metrics.fanoutWrites.Add(float64(len(ids)))
		return nil
	})
	if err != nil {
		return err
	}
	p.metrics.fanoutDuration.Observe(time.Since(start).Seconds())
	return nil
}

// unpost takes a deleted post out of the timelines it was fanned out to. A celebrity's
// followers' timelines never got it; should one hold it from before the author crossed
// the threshold, reads skip it (its view is gone) and remove it.
func (p *Projector) unpost(ctx context.Context, postID, author string) error {
	if err := p.tl.Remove(ctx, []string{author}, []string{postID}); err != nil {
		return err
	}
	if celeb, err := p.celebrity(ctx, author); err != nil || celeb {
		return err
	}
	return p.eachFollowerPage(ctx, author, func(ids []string) error {
		return p.tl.Remove(ctx, ids, []string{postID})
	})
}

// backfill copies followee's recent posts into follower's timeline, if the follow still
// stands and followee is not a celebrity (whose posts are merged at read time).
func (p *Projector) backfill(ctx context.Context, follower, followee string) error {
	if p.opt.Backfill == 0 {
		return nil
	}
	if ok, err := p.store.Follows(ctx, follower, followee); err != nil || !ok {
		return err
	}
	if celeb, err := p.celebrity(ctx, followee); err != nil || celeb {
		return err
	}
	refs, err := p.store.AuthorRefs(ctx, followee, p.opt.Backfill)
	if err != nil || len(refs) == 0 {
		return err
	}
	return p.tl.Add(ctx, []string{follower}, refs)
}

// demote gives the followers of an author who fell to the celebrity threshold the
// author's recent posts, as a backfill would: those made above the threshold were never
// fanned out, and reads no longer merge them in. An author back above it since needs
// nothing (reads merge again).
func (p *Projector) demote(ctx context.Context, author string) error {
	if p.opt.Backfill == 0 {
		return nil
	}
	if celeb, err := p.celebrity(ctx, author); err != nil || celeb {
		return err
	}
	refs, err := p.store.AuthorRefs(ctx, author, p.opt.Backfill)
	if err != nil || len(refs) == 0 {
		return err
	}
	return p.eachFollowerPage(ctx, author, func(ids []string) error { return p.tl.Add(ctx, ids, refs) })
}

// unfollow takes followee's posts out of follower's timeline, unless the follow was
// made again since.
func (p *Projector) unfollow(ctx context.Context, follower, followee string) error {
	if ok, err := p.store.Follows(ctx, follower, followee); err != nil || ok {
		return err
	}
	members, err := p.tl.Members(ctx, follower)
	if err != nil || len(members) == 0 {
		return err
	}
	ids, err := p.store.AuthoredBy(ctx, followee, members)
	if err != nil || len(ids) == 0 {
		return err
	}
	return p.tl.Remove(ctx, []string{follower}, ids)
}

// purgeUser drops a deleted account's timeline and takes its posts out of its
// followers' timelines.
func (p *Projector) purgeUser(ctx context.Context, user string, followers, posts []string) error {
	if err := p.tl.Drop(ctx, user); err != nil {
		return err
	}
	if len(posts) == 0 {
		return nil
	}
	for len(followers) > 0 {
		n := min(len(followers), followerPage)
		if err := p.tl.Remove(ctx, followers[:n], posts); err != nil {
			return err
		}
		followers = followers[n:]
	}
	return nil
}
