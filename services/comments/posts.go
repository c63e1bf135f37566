package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"instant/platform/client"
	"instant/services/comments/internal/comment"
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

func (p postsAPI) Post(ctx context.Context, id string) (comment.Post, error) {
	var body postJSON
	err := p.c.GetJSON(ctx, "/internal/posts/"+url.PathEscape(id), nil, &body)
	switch {
	case err == nil && body.UserID != "":
		return comment.Post{ID: id, UserID: body.UserID}, nil
	case err == nil:
		return comment.Post{}, fmt.Errorf("%w: posts answered a post without an owner", comment.ErrUnavailable)
	case errors.Is(err, client.ErrNotFound):
		return comment.Post{}, comment.ErrPostNotFound
	default:
		// Down, slow, or an answer the contract does not have: none is the caller's
		// fault, and each may pass, so the request gets a 503, never a 500.
		return comment.Post{}, fmt.Errorf("%w: %w", comment.ErrUnavailable, err)
	}
}
