package comment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
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

// Page is one page of a post's comments; Next is empty on the last page.
type Page struct {
	Items []Comment
	Next  string
}

// Create adds a comment by actor to the post postID, which must exist.
func (s *Service) Create(ctx context.Context, actor, postID, body string) (Comment, error) {
	postID, err := ParseID(postID)
	if err != nil {
		return Comment{}, err
	}
	if body, err = NormalizeBody(body); err != nil {
		return Comment{}, err
	}
	if _, err := s.posts.Post(ctx, postID); err != nil {
		return Comment{}, fmt.Errorf("create comment: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Comment{}, fmt.Errorf("create comment: id: %w", err)
	}
	at := s.now()
	c := Comment{ID: id.String(), PostID: postID, UserID: actor, Body: body, CreatedAt: at, UpdatedAt: at}
	if err := s.store.Create(ctx, c); err != nil {
		return Comment{}, fmt.Errorf("create comment: %w", err)
	}
	s.metrics.created.Inc()
	return c, nil
}

// List returns a page of the comments of the post postID, oldest first.
func (s *Service) List(ctx context.Context, postID, cursor string, limit int) (Page, error) {
	postID, err := ParseID(postID)
	if err != nil {
		return Page{}, err
	}
	after, err := ParseCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	if _, err := s.posts.Post(ctx, postID); err != nil {
		return Page{}, fmt.Errorf("list comments: %w", err)
	}
	// One more than asked tells whether another page follows without a second query.
	items, err := s.store.List(ctx, postID, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list comments: %w", err)
	}
	p := Page{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		last := p.Items[limit-1]
		p.Next = Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	return p, nil
}

// Update replaces the body of a comment. Only its author may, and only while the post
// it is on exists.
func (s *Service) Update(ctx context.Context, actor, id, body string) (Comment, error) {
	id, err := ParseID(id)
	if err != nil {
		return Comment{}, err
	}
	if body, err = NormalizeBody(body); err != nil {
		return Comment{}, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	if c.UserID != actor {
		return Comment{}, fmt.Errorf("update comment: %w", ErrForbidden)
	}
	if _, err := s.posts.Post(ctx, c.PostID); err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	c, err = s.store.SetBody(ctx, id, actor, body, s.now())
	if err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	return c, nil
}

// Delete removes a comment. Its author may, and so may the owner of the post it is on;
// the author needs no answer from posts, so removing one's own comment works while
// posts is down or after the post is gone.
func (s *Service) Delete(ctx context.Context, actor, id string) (Comment, error) {
	id, err := ParseID(id)
	if err != nil {
		return Comment{}, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return Comment{}, fmt.Errorf("delete comment: %w", err)
	}
	if c.UserID != actor {
		p, err := s.posts.Post(ctx, c.PostID)
		switch {
		case errors.Is(err, ErrPostNotFound):
			// No post, no owner: only the author could remove the comment.
			return Comment{}, fmt.Errorf("delete comment: %w", ErrForbidden)
		case err != nil:
			return Comment{}, fmt.Errorf("delete comment: %w", err)
		case p.UserID != actor:
			return Comment{}, fmt.Errorf("delete comment: %w", ErrForbidden)
		}
	}
	if err := s.store.Delete(ctx, c); err != nil {
		return Comment{}, fmt.Errorf("delete comment: %w", err)
	}
	s.metrics.deleted.Inc()
	return c, nil
}

// now is a change's timestamp: UTC at microsecond precision, what PostgreSQL keeps, so a
// value reads back as it was written on both dialects.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
