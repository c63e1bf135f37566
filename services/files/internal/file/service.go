package file

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Object is what the store knows about a stored object.
type Object struct {
	Key         Key
	Size        int64
	ContentType string
	// UploadedAt is when the object was written (S3's Last-Modified).
	UploadedAt time.Time
}

// Listed is an object as a listing of the bucket shows it; Key is the raw key.
type Listed struct {
	Key        string
	Size       int64
	UploadedAt time.Time
}

// Store signs URLs for the object store and changes it. Implementations return
// ErrNotFound for a missing object and wrap ErrUnavailable around any other failure.
type Store interface {
	// PresignPut signs a PUT of key that S3 accepts only with this Content-Type and, when
	// size > 0, this Content-Length.
	PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error)
	// PresignGet signs a GET of key.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	Stat(ctx context.Context, key string) (Object, error)
	// Remove deletes key; a missing object is not an error.
	Remove(ctx context.Context, key string) error
	// RemovePrefix deletes every object whose key starts with prefix and returns how many.
	RemovePrefix(ctx context.Context, prefix string) (int, error)
	// List returns up to limit objects under prefix whose keys sort after after, in key
	// order, and the key to continue after ("" at the end).
	List(ctx context.Context, prefix, after string, limit int) ([]Listed, string, error)
	// RemoveKeys deletes keys (a batch) and returns how many went.
	RemoveKeys(ctx context.Context, keys []string) (int, error)
}

// Options are the service's limits.
type Options struct {
	UploadTTL      time.Duration // lifetime of an upload URL
	DownloadTTL    time.Duration // lifetime of a download URL
	MaxUploadBytes int64         // the largest image a client may upload
	Now            func() time.Time
}

// Service hands out presigned URLs and deletes objects.
type Service struct {
	store   Store
	metrics *Metrics
	opts    Options
}

// NewService returns the service over store.
func NewService(store Store, metrics *Metrics, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: store, metrics: metrics, opts: opts}
}

// MaxUploadBytes is the largest upload the service signs.
func (s *Service) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// Upload is a signed upload: PUT the bytes to URL with Headers before ExpiresAt.
type Upload struct {
	Key       Key
	URL       string
	Headers   map[string]string // what the PUT must carry, exactly: they are signed
	ExpiresAt time.Time
	TTL       time.Duration
}

// UploadURL signs an upload of an image under the caller's prefix. size, when given,
// must be 1..MaxUploadBytes and is signed too, so S3 refuses a body of any other length.
func (s *Service) UploadURL(ctx context.Context, caller uuid.UUID, filename, contentType string, size *int64) (Upload, error) {
	ct, ext, err := uploadType(filename, contentType)
	if err != nil {
		return Upload{}, err
	}
	var n int64
	if size != nil {
		n = *size
		switch {
		case n < 1:
			return Upload{}, &FieldError{Field: "size", Problem: "must be at least 1"}
		case n > s.opts.MaxUploadBytes:
			return Upload{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, s.opts.MaxUploadBytes)
		}
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Upload{}, fmt.Errorf("upload url: key: %w", err)
	}
	key := Key{Owner: caller, Name: id.String() + ext}
	now := s.opts.Now()
	url, err := s.store.PresignPut(ctx, key.String(), ct, n, s.opts.UploadTTL)
	if err != nil {
		return Upload{}, fmt.Errorf("upload url: %w", err)
	}
	headers := map[string]string{"Content-Type": ct}
	if n > 0 {
		headers["Content-Length"] = fmt.Sprint(n)
	}
	s.metrics.uploadURLs.Inc()
	return Upload{Key: key, URL: url, Headers: headers, ExpiresAt: now.Add(s.opts.UploadTTL).UTC(), TTL: s.opts.UploadTTL}, nil
}

// Download is a signed GET of an object.
type Download struct {
	Key       Key
	URL       string
	ExpiresAt time.Time
	TTL       time.Duration
}

// DownloadURL signs a GET of an existing object. Any signed-in member may read any
// image: posts are public to members.
func (s *Service) DownloadURL(ctx context.Context, rawKey string) (Download, error) {
	key, err := ParseKey(rawKey)
	if err != nil {
		return Download{}, err
	}
	if _, err := s.store.Stat(ctx, key.String()); err != nil {
		return Download{}, fmt.Errorf("download url: %w", err)
	}
	now := s.opts.Now()
	url, err := s.store.PresignGet(ctx, key.String(), s.opts.DownloadTTL)
	if err != nil {
		return Download{}, fmt.Errorf("download url: %w", err)
	}
	s.metrics.downloadURLs.Inc()
	return Download{Key: key, URL: url, ExpiresAt: now.Add(s.opts.DownloadTTL).UTC(), TTL: s.opts.DownloadTTL}, nil
}

// Delete removes one of the caller's objects. Someone else's key is ErrForbidden whether
// or not it exists, so the answer tells nothing about other people's files.
func (s *Service) Delete(ctx context.Context, caller uuid.UUID, rawKey string) (Key, error) {
	key, err := ParseKey(rawKey)
	if err != nil {
		return Key{}, err
	}
	if key.Owner != caller {
		return Key{}, ErrForbidden
	}
	if _, err := s.store.Stat(ctx, key.String()); err != nil {
		return Key{}, fmt.Errorf("delete: %w", err)
	}
	if err := s.store.Remove(ctx, key.String()); err != nil {
		return Key{}, fmt.Errorf("delete: %w", err)
	}
	s.metrics.deleted.WithLabelValues(ReasonOwner).Inc()
	return key, nil
}

// Info describes an object, for services that must check an image before they use it.
// A malformed key is ErrNotFound: no such object can exist.
func (s *Service) Info(ctx context.Context, rawKey string) (Object, error) {
	key, err := ParseKey(rawKey)
	if err != nil {
		return Object{}, fmt.Errorf("info: malformed key: %w", ErrNotFound)
	}
	o, err := s.store.Stat(ctx, key.String())
	if err != nil {
		return Object{}, fmt.Errorf("info: %w", err)
	}
	o.Key = key
	return o, nil
}

// MaxListed is the most uploads one Uploads call lists, and the most keys one
// RemoveUploads call takes.
const MaxListed = 1000

// Uploads lists uploaded images older than before, a page of the bucket at a time from
// after on, for posts' sweep of images no post uses. A page may hold fewer than limit
// (or none) and still continue: the filter applies after the listing. Objects whose keys
// are not uploads' are left out.
func (s *Service) Uploads(ctx context.Context, before time.Time, after string, limit int) ([]Listed, string, error) {
	if limit < 1 || limit > MaxListed {
		limit = MaxListed
	}
	objs, next, err := s.store.List(ctx, keyPrefix, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list uploads: %w", err)
	}
	out := objs[:0]
	for _, o := range objs {
		if _, err := ParseKey(o.Key); err == nil && o.UploadedAt.Before(before) {
			out = append(out, o)
		}
	}
	return out, next, nil
}

// RemoveUploads deletes uploaded images posts found unused. Every key must be an
// upload's (ErrInvalidKey otherwise, and nothing is deleted).
func (s *Service) RemoveUploads(ctx context.Context, keys []string) (int, error) {
	if len(keys) > MaxListed {
		return 0, fmt.Errorf("remove uploads: %d keys, at most %d: %w", len(keys), MaxListed, ErrInvalidKey)
	}
	for _, k := range keys {
		if _, err := ParseKey(k); err != nil {
			return 0, fmt.Errorf("remove uploads: %q: %w", k, ErrInvalidKey)
		}
	}
	n, err := s.store.RemoveKeys(ctx, keys)
	if err != nil {
		return n, fmt.Errorf("remove uploads: %w", err)
	}
	s.metrics.deleted.WithLabelValues(ReasonUnused).Add(float64(n))
	return n, nil
}

// DeletePostImage removes the image of a deleted post. It refuses (ErrInvalidKey,
// ErrForbidden) a key that is malformed or not the author's: posts only accepts the
// author's own images, so anything else is a bug or a forgery and deleting would hit
// someone else's file. A missing object is done already.
func (s *Service) DeletePostImage(ctx context.Context, author uuid.UUID, rawKey string) error {
	key, err := ParseKey(rawKey)
	if err != nil {
		return err
	}
	if key.Owner != author {
		return ErrForbidden
	}
	if _, err := s.store.Stat(ctx, key.String()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete post image: %w", err)
	}
	if err := s.store.Remove(ctx, key.String()); err != nil {
		return fmt.Errorf("delete post image: %w", err)
	}
	s.metrics.deleted.WithLabelValues(ReasonPostDeleted).Inc()
	return nil
}

// PurgeUser removes every object under the user's prefix and returns how many there were.
func (s *Service) PurgeUser(ctx context.Context, user uuid.UUID) (int, error) {
	n, err := s.store.RemovePrefix(ctx, OwnerPrefix(user))
	s.metrics.deleted.WithLabelValues(ReasonUserDeleted).Add(float64(n))
	if err != nil {
		return n, fmt.Errorf("purge user: %w", err)
	}
	return n, nil
}
