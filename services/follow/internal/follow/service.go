package follow

import (
	"context"
	"fmt"
	"time"
)

// Service holds the use cases of the follow graph. The actor of a change is always the
// verified caller: a follow is made on nobody's behalf but the signed-in user's.
type Service struct {
	store   Store
	users   Users
	metrics *Metrics
	now     func() time.Time
}

// NewService returns the use cases over store and users.
func NewService(store Store, users Users, metrics *Metrics) *Service {
	return &Service{store: store, users: users, metrics: metrics, now: now}
}

// Follow makes actor follow target and returns target's counts. Following someone
// already followed changes nothing and is no error. The target must be an existing
// account (asked of auth); following yourself is refused.
func (s *Service) Follow(ctx context.Context, actor, target string) (Counts, error) {
	if !ValidID(actor) || !ValidID(target) {
		return Counts{}, ErrInvalidID
	}
	if actor == target {
		return Counts{}, ErrSelfFollow
	}
	if err := s.users.Exists(ctx, target); err != nil {
		return Counts{}, fmt.Errorf("follow: %w", err)
	}
	added, c, err := s.store.Follow(ctx, actor, target, s.now())
	if err != nil {
		return Counts{}, fmt.Errorf("follow: %w", err)
	}
	if added {
		s.metrics.created.Inc()
	}
	return c, nil
}

// Unfollow ends actor's follow of target, if there is one, and returns target's counts.
// No existence check: ending a follow that is not there changes nothing either way.
func (s *Service) Unfollow(ctx context.Context, actor, target string) (Counts, error) {
	if !ValidID(actor) || !ValidID(target) {
		return Counts{}, ErrInvalidID
	}
	removed, c, err := s.store.Unfollow(ctx, actor, target)
	if err != nil {
		return Counts{}, fmt.Errorf("unfollow: %w", err)
	}
	if removed {
		s.metrics.deleted.Inc()
	}
	return c, nil
}

// Followers returns a page of user's followers, newest first.
func (s *Service) Followers(ctx context.Context, user string, after *Cursor, limit int) (Page, error) {
	return s.page(ctx, "followers", s.store.Followers, user, after, limit)
}

// Following returns a page of the users user follows, newest first.
func (s *Service) Following(ctx context.Context, user string, after *Cursor, limit int) (Page, error) {
	return s.page(ctx, "following", s.store.Following, user, after, limit)
}

type lister func(ctx context.Context, user string, after *Cursor, limit int) ([]Edge, error)

// page asks for one item more than the page holds: its presence says whether a next
// page exists, so the last page carries no cursor and no empty page is ever needed.
func (s *Service) page(ctx context.Context, what string, list lister, user string, after *Cursor, limit int) (Page, error) {
	if !ValidID(user) {
		return Page{}, ErrInvalidID
	}
	if limit < 1 {
		return Page{}, fmt.Errorf("%s: limit %d", what, limit)
	}
	items, err := list(ctx, user, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("%s: %w", what, err)
	}
	p := Page{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		last := p.Items[limit-1]
		p.Next = &Cursor{At: last.FollowedAt, UserID: last.UserID}
	}
	return p, nil
}

// Relation returns user's counts as viewer sees them.
func (s *Service) Relation(ctx context.Context, viewer, user string) (Relation, error) {
	if !ValidID(viewer) || !ValidID(user) {
		return Relation{}, ErrInvalidID
	}
	cs, err := s.store.Counts(ctx, []string{user})
	if err != nil {
		return Relation{}, fmt.Errorf("relation: %w", err)
	}
	r := Relation{Counts: cs[0]}
	if viewer == user {
		return r, nil
	}
	r.FollowedByMe, r.FollowsMe, err = s.store.Relation(ctx, viewer, user)
	if err != nil {
		return Relation{}, fmt.Errorf("relation: %w", err)
	}
	return r, nil
}

// Counts returns the counts of up to MaxBatch users, in the order given, each once.
func (s *Service) Counts(ctx context.Context, ids []string) ([]Counts, error) {
	if len(ids) == 0 {
		return nil, &FieldError{Field: "user_ids", Problem: "is required"}
	}
	seen := make(map[string]bool, len(ids))
	uniq := ids[:0:0]
	for _, id := range ids {
		if !ValidID(id) {
			return nil, &FieldError{Field: "user_ids", Problem: "must be user ids (UUIDs) separated by commas"}
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if len(uniq) > MaxBatch {
		return nil, &FieldError{Field: "user_ids", Problem: fmt.Sprintf("must name at most %d users", MaxBatch)}
	}
	cs, err := s.store.Counts(ctx, uniq)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	return cs, nil
}

// now is when a follow begins: UTC at microsecond precision, what PostgreSQL keeps, so
// a cursor made from a value read back finds the same row on both dialects.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
