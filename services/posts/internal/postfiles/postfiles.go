// Package postfiles asks the files service about uploaded images through its internal
// routes: GET /internal/files/{key...} (the core's post.Images), and GET
// /internal/uploads and POST /internal/uploads/delete for the sweep of unused uploads
// (post.Uploads).
package postfiles

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"instant/platform/client"
	"instant/services/posts/internal/post"
)

// Service is the name the files service has in discovery.
const Service = "files"

// Files implements post.Images over the files service's internal route.
type Files struct {
	c *client.Client
}

// New returns the adapter over c, a client for Service.
func New(c *client.Client) *Files { return &Files{c: c} }

var _ post.Images = (*Files)(nil)

// stat is the answer of GET /internal/files/{key...}.
type stat struct {
	Key         string    `json:"key"`
	OwnerID     string    `json:"owner_id"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// Stat returns what files knows of key: post.ErrImageNotFound when there is no such
// object. Any other failure (files down, slow, or answering what it should not) is
// post.ErrUnavailable: the post cannot be checked now, and the client may retry.
func (f *Files) Stat(ctx context.Context, key string) (post.Image, error) {
	var s stat
	err := f.c.GetJSON(ctx, "/internal/files/"+key, nil, &s)
	switch {
	case errors.Is(err, client.ErrNotFound):
		return post.Image{}, post.ErrImageNotFound
	case err != nil:
		return post.Image{}, fmt.Errorf("stat image: %w: %w", post.ErrUnavailable, err)
	case s.Key != key:
		return post.Image{}, fmt.Errorf("stat image: %w: files answered for another key", post.ErrUnavailable)
	}
	return post.Image{Key: s.Key, OwnerID: s.OwnerID, Size: s.Size, ContentType: s.ContentType, UploadedAt: s.UploadedAt}, nil
}

var _ post.Uploads = (*Files)(nil)

// ListUploads reads a page of GET /internal/uploads.
func (f *Files) ListUploads(ctx context.Context, before time.Time, after string) ([]string, string, error) {
	var page struct {
		Uploads []struct {
			Key string `json:"key"`
		} `json:"uploads"`
		Next string `json:"next"`
	}
	q := url.Values{"before": {before.UTC().Format(time.RFC3339Nano)}, "after": {after}}
	if err := f.c.GetJSON(ctx, "/internal/uploads", q, &page); err != nil {
		return nil, "", fmt.Errorf("list uploads: %w", err)
	}
	keys := make([]string, len(page.Uploads))
	for i, u := range page.Uploads {
		keys[i] = u.Key
	}
	return keys, page.Next, nil
}

// RemoveUploads calls POST /internal/uploads/delete.
func (f *Files) RemoveUploads(ctx context.Context, keys []string) (int, error) {
	var out struct {
		Removed int `json:"removed"`
	}
	if err := f.c.PostJSON(ctx, "/internal/uploads/delete", map[string][]string{"keys": keys}, &out); err != nil {
		return 0, fmt.Errorf("remove uploads: %w", err)
	}
	return out.Removed, nil
}
