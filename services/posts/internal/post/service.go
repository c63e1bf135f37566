package post

import (
	"context"
	"fmt"
	"time"
)

// Page sizes and how deep offset paging may go. Offset paging (the original client's
// page/page_size) reads and skips every row before the page, so it stops at MaxOffset;
// cursor paging costs the same on every page and has no such limit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	MaxOffset    = 10_000
)

// Service holds the use cases of posts. Callers pass the verified id of the signed-in
// user as actor; a method that changes a post refuses any actor but its author.
type Service struct {
	store         Store
	images        Images
	metrics       *Metrics
	maxImageBytes int64
	maxImageAge   time.Duration
	now           func() time.Time
}

// NewService wires the use cases to their ports. maxImageBytes bounds a post's image;
// maxImageAge is how long after its upload an image may still become a post (0: no
// limit). The sweep of unused uploads removes only those twice as old (see Sweeper).
func NewService(store Store, images Images, m *Metrics, maxImageBytes int64, maxImageAge time.Duration) *Service {
	return &Service{store: store, images: images, metrics: m, maxImageBytes: maxImageBytes, maxImageAge: maxImageAge, now: time.Now}
}

// Draft is what an author sends to create a post. The image comes as ImageKey or, as
// the original client sends the file key it got from files, as ImageURL; either holds a
// file key or the image path of one ("/api/files/<key>"). Given both, they must agree.
type Draft struct {
	Caption  string
	ImageKey string
	ImageURL string
}

// imageKey resolves the draft's image reference to a key.
func (d Draft) imageKey() (string, error) {
	if d.ImageURL == "" {
		return ParseImageRef(d.ImageKey)
	}
	if d.ImageKey == "" {
		return ParseImageRef(d.ImageURL)
	}
	key, err := ParseImageRef(d.ImageKey)
	if err != nil {
		return "", err
	}
	other, err := ParseImageRef(d.ImageURL)
	if err != nil {
		return "", err
	}
	if other != key {
		return "", &FieldError{Field: "image_url", Problem: "must name the same file as image_key when both are given"}
	}
	return key, nil
}

// Create publishes a post of actor's: the caption is checked and its tags extracted,
// the image must be actor's own existing upload of an allowed type and size.
func (s *Service) Create(ctx context.Context, actor string, d Draft) (Post, error) {
	if err := CheckCaption(d.Caption); err != nil {
		return Post{}, err
	}
	tags, err := ExtractTags(d.Caption)
	if err != nil {
		return Post{}, err
	}
	key, err := d.imageKey()
	if err != nil {
		return Post{}, err
	}
	// Ownership first, from the key alone: someone else's key is refused the same way
	// whether or not it exists, so this reveals nothing about other users' uploads.
	if !OwnsKey(actor, key) {
		return Post{}, ErrImageNotYours
	}
	img, err := s.images.Stat(ctx, key)
	if err != nil {
		return Post{}, fmt.Errorf("create post: %w", err)
	}
	if err := CheckImage(img, actor, s.maxImageBytes); err != nil {
		return Post{}, err
	}
	if s.maxImageAge > 0 && !img.UploadedAt.IsZero() && s.stamp().Sub(img.UploadedAt) > s.maxImageAge {
		return Post{}, ErrImageExpired
	}
	id, err := NewID()
	if err != nil {
		return Post{}, fmt.Errorf("create post: new id: %w", err)
	}
	now := s.stamp()
	p, err := s.store.Create(ctx, Post{
		ID: id, UserID: actor, Caption: d.Caption, ImageKey: key,
		Hashtags: tags.Hashtags, Mentions: tags.Mentions, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return Post{}, fmt.Errorf("create post: %w", err)
	}
	s.metrics.created.Inc()
	return p, nil
}

// Get returns a post by id.
func (s *Service) Get(ctx context.Context, id string) (Post, error) {
	if !ValidID(id) {
		return Post{}, ErrInvalidID
	}
	p, err := s.store.ByID(ctx, id)
	if err != nil {
		return Post{}, fmt.Errorf("get post: %w", err)
	}
	return p, nil
}

// Patch is a partial update of a post; nil fields stay as they are. The image of a post
// never changes: a different photo is a different post.
type Patch struct {
	Caption *string
}

// Update applies p to actor's post id and returns the post as it now is. Setting the
// caption it already has changes nothing and emits nothing.
func (s *Service) Update(ctx context.Context, actor, id string, p Patch) (Post, error) {
	if !ValidID(id) {
		return Post{}, ErrInvalidID
	}
	var tags Tags
	if p.Caption != nil {
		if err := CheckCaption(*p.Caption); err != nil {
			return Post{}, err
		}
		var err error
		if tags, err = ExtractTags(*p.Caption); err != nil {
			return Post{}, err
		}
	}
	changed := false
	out, err := s.store.Update(ctx, id, func(cur Post) (Post, bool, error) {
		if cur.UserID != actor {
			return Post{}, false, ErrForbidden
		}
		if p.Caption == nil || *p.Caption == cur.Caption {
			return cur, false, nil
		}
		cur.Caption, cur.Hashtags, cur.Mentions = *p.Caption, tags.Hashtags, tags.Mentions
		cur.UpdatedAt = s.stamp()
		changed = true
		return cur, true, nil
	})
	if err != nil {
		return Post{}, fmt.Errorf("update post: %w", err)
	}
	if changed {
		s.metrics.updated.Inc()
	}
	return out, nil
}

// Delete removes actor's post id and returns what it was.
func (s *Service) Delete(ctx context.Context, actor, id string) (Post, error) {
	if !ValidID(id) {
		return Post{}, ErrInvalidID
	}
	p, err := s.store.Delete(ctx, id, func(cur Post) error {
		if cur.UserID != actor {
			return ErrForbidden
		}
		return nil
	})
	if err != nil {
		return Post{}, fmt.Errorf("delete post: %w", err)
	}
	s.metrics.deleted.Inc()
	return p, nil
}

// PageRequest asks for a page of posts, newest first: all posts, one author's (UserID)
// or one hashtag's (Tag). Page > 0 asks for that page by offset (the original client);
// otherwise Cursor, the token of the previous page ("" for the first), continues where
// that page ended, which stays exact while new posts arrive. Limit 0 means DefaultLimit.
type PageRequest struct {
	UserID string
	Tag    string
	Cursor string
	Page   int
	Limit  int
}

// PageResult is a page of posts. Next continues after it (in either paging form) and is
// empty when HasMore is false.
type PageResult struct {
	Posts   []Post
	Next    string
	HasMore bool
}

// List returns a page of posts.
func (s *Service) List(ctx context.Context, r PageRequest) (PageResult, error) {
	q := ListQuery{Limit: r.Limit}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return PageResult{}, &FieldError{Field: "limit", Problem: "must be between 1 and 100"}
	}
	if r.UserID != "" {
		if !ValidID(r.UserID) {
			return PageResult{}, ErrInvalidID
		}
		q.UserID = r.UserID
	}
	if r.Tag != "" {
		tag, err := NormalizeTag(r.Tag)
		if err != nil {
			return PageResult{}, err
		}
		q.Tag = tag
	}
	switch {
	case r.Page > 0 && r.Cursor != "":
		return PageResult{}, &FieldError{Field: "cursor", Problem: "must not be combined with page"}
	case r.Page > 0:
		q.Offset = (r.Page - 1) * q.Limit
		if q.Offset > MaxOffset {
			return PageResult{}, &FieldError{Field: "page", Problem: "is too deep; follow next_cursor instead"}
		}
	case r.Page < 0:
		return PageResult{}, &FieldError{Field: "page", Problem: "must be at least 1"}
	case r.Cursor != "":
		c, err := DecodeCursor(r.Cursor)
		if err != nil {
			return PageResult{}, err
		}
		q.After = &c
	}
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	posts, err := s.store.List(ctx, q)
	if err != nil {
		return PageResult{}, fmt.Errorf("list posts: %w", err)
	}
	res := PageResult{Posts: posts}
	if len(posts) > want {
		last := posts[want-1]
		res = PageResult{Posts: posts[:want], HasMore: true, Next: EncodeCursor(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})}
	}
	return res, nil
}

// stamp is a change's timestamp: UTC at microsecond precision, what PostgreSQL keeps, so
// a value reads back as it was written on both dialects and in cursors.
func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
