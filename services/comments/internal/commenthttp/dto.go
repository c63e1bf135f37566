package commenthttp

import (
	"time"

	"instant/services/comments/internal/comment"
)

// maxBody bounds a request body: 2,200 characters of four bytes each, JSON-escaped
// (up to twelve bytes for a character outside the BMP), plus the envelope.
const maxBody = 32 << 10

// bodyRequest is the body of POST /api/posts/{id}/comments and PATCH /api/comments/{id}.
type bodyRequest struct {
	Body string `json:"body"`
}

type commentJSON struct {
	ID        string    `json:"id"`
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toJSON(c comment.Comment) commentJSON {
	return commentJSON{ID: c.ID, PostID: c.PostID, UserID: c.UserID, Body: c.Body,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

type listResponse struct {
	Items      []commentJSON `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

type deleteResponse struct {
	ID string `json:"id"`
}
