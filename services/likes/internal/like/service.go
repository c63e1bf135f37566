package like

import (
	"context"
	"fmt"
	"time"
)

// Service holds the use cases. Actor is always the verified id of the signed-in user.
type Service struct {
	store   Store
	posts   Posts
	metrics *Metrics
	now     func() time.Time
}

// NewService returns the use cases over store and posts.
func NewService(store Store, posts Posts, m *Metrics) *Service {
	return &Service{store: store, posts: posts, metrics: m, now: now}
}

// LikersPage is one page of a post's likers with the post's summary for the viewer;
// Next is empty on the last page.
type LikersPage struct {
	Summary Summary
	Items   []Like
	Next    string
}

// Like makes actor like the post postID, which must exist. Liking a post one already
// likes changes nothing and is no error.
func (s *Service) Like(ctx context.Context, actor, postID string) (State, error) {
	postID, err := ParseID(postID)
	if err != nil {
		return State{}, err
	}
	if _, err := s.posts.Post(ctx, postID); err != nil {
		return State{}, fmt.Errorf("like: %w", err)
	}
	st, changed, err := s.store.Like(ctx, postID, actor, s.now())
	if err != nil {
		return State{}, fmt.Errorf("like: %w", err)
	}
	if changed {
		s.metrics.created.Inc()
	}
	return st, nil
}

// Unlike removes actor's like of postID, if there is one. It does not ask posts: taking
// one's like back is always allowed, also while posts is down or after the post is gone,
// and for a post that never existed it answers what is true, not liked and no likes.
func (s *Service) Unlike(ctx context.Context, actor, postID string) (State, error) {
	postID, err := ParseID(postID)
	if err != nil {
		return State{}, err
	}
	st, changed, err := s.store.Unlike(ctx, postID, actor)
	if err != nil {
		return State{}, fmt.Errorf("unlike: %w", err)
	}
	if changed {
		s.metrics.deleted.Inc()
	}
	return st, nil
}

// Likers returns a page of the users who like the post postID, newest first, with its
// count and whether actor likes it.
func (s *Service) Likers(ctx context.Context, actor, postID, cursor string, limit int) (LikersPage, error) {
	postID, err := ParseID(postID)
	if err != nil {
		return LikersPage{}, err
	}
	after, err := ParseCursor(cursor)
	if err != nil {
		return LikersPage{}, err
	}
	if _, err := s.posts.Post(ctx, postID); err != nil {
		return LikersPage{}, fmt.Errorf("likers: %w", err)
	}
	// One more than asked tells whether another page follows without a second query.
	items, err := s.store.Likers(ctx, postID, after, limit+1)
	if err != nil {
		return LikersPage{}, fmt.Errorf("likers: %w", err)
	}
	sums, err := s.store.Summaries(ctx, []string{postID}, actor)
	if err != nil {
		return LikersPage{}, fmt.Errorf("likers: %w", err)
	}
	p := LikersPage{Summary: sums[0], Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		last := p.Items[limit-1]
		p.Next = Cursor{CreatedAt: last.CreatedAt, UserID: last.UserID}.Encode()
	}
	return p, nil
}

// Summaries returns the like count of each post and whether viewer (empty: an
// anonymous viewer) likes it, in the order asked. It reads only this service's data:
// a post unknown here has no likes, whether or not posts knows it.
func (s *Service) Summaries(ctx context.Context, viewer, postIDs string) ([]Summary, error) {
	ids, err := ParsePostIDs(postIDs)
	if err != nil {
		return nil, err
	}
	sums, err := s.store.Summaries(ctx, ids, viewer)
	if err != nil {
		return nil, fmt.Errorf("like summaries: %w", err)
	}
	return sums, nil
}

// now is a change's timestamp: UTC at microsecond precision, what PostgreSQL keeps, so a
// value reads back as it was written on both dialects.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
