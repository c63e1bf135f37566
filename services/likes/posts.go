package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"instant/platform/client"
	"instant/services/likes/internal/like"
)

// postsAPI asks posts' internal route GET /internal/posts/{id} (contracts.md) whether a
// post exists and who owns it.
type postsAPI struct{ c *client.Client }

// postJSON is the route's 200 answer.
type postJSON struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ImageKey string `json:"image_key"`
}

func (p postsAPI) Post(ctx context.Context, id string) (like.Post, error) {
	var body postJSON
	err := p.c.GetJSON(ctx, "/internal/posts/"+url.PathEscape(id), nil, &body)
	switch {
	case err == nil && body.UserID != "":
		return like.Post{ID: id, UserID: body.UserID}, nil
	case err == nil:
		return like.Post{}, fmt.Errorf("%w: posts answered a post without an owner", like.ErrUnavailable)
	case errors.Is(err, client.ErrNotFound):
		return like.Post{}, like.ErrPostNotFound
	default:
		// Down, slow, or an answer the contract does not have: none is the caller's
		// fault, and each may pass, so the request gets a 503, never a 500.
		return like.Post{}, fmt.Errorf("%w: %w", like.ErrUnavailable, err)
	}
}
