// Package postfiles asks the files service about uploaded images through its internal
// route GET /internal/files/{key...}. It is the core's post.Images.
package postfiles

import (
	"context"
	"errors"
	"fmt"

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
	Key         string `json:"key"`
	OwnerID     string `json:"owner_id"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
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
	return post.Image{Key: s.Key, OwnerID: s.OwnerID, Size: s.Size, ContentType: s.ContentType}, nil
}
