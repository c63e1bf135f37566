package posthttp

import (
	"instant/platform/web"
	"instant/services/posts/internal/post"
)

// Requests.

// createRequest takes the image as image_key or, as the original client sends the file
// key it got from files, as image_url.
type createRequest struct {
	Caption  string `json:"caption"`
	ImageKey string `json:"image_key"`
	ImageURL string `json:"image_url"`
}

type patchRequest struct {
	Caption *string `json:"caption"`
}

// Responses.

// envelope is the original API's success envelope.
type envelope struct {
	Success bool `json:"success"`
	Data    any  `json:"data"`
}

func success(data any) envelope { return envelope{Success: true, Data: data} }

// postJSON is a post as clients see it. post_id repeats id for the original client.
type postJSON struct {
	PostID       string   `json:"post_id"`
	ID           string   `json:"id"`
	UserID       string   `json:"user_id"`
	Username     string   `json:"username"`
	Caption      string   `json:"caption"`
	ImageKey     string   `json:"image_key"`
	ImageURL     string   `json:"image_url"`
	Hashtags     []string `json:"hashtags"`
	Mentions     []string `json:"mentions"`
	LikeCount    int64    `json:"like_count"`
	CommentCount int64    `json:"comment_count"`
	// Formatted by web.Timestamp: the bytes time.Time would encode to, for less work.
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func toJSON(p post.Post) postJSON {
	return postJSON{
		PostID: p.ID, ID: p.ID, UserID: p.UserID, Username: p.Username, Caption: p.Caption,
		ImageKey: p.ImageKey, ImageURL: post.ImageURL(p.ImageKey),
		Hashtags: orEmpty(p.Hashtags), Mentions: orEmpty(p.Mentions),
		LikeCount: p.LikeCount, CommentCount: p.CommentCount,
		CreatedAt: web.Timestamp(p.CreatedAt), UpdatedAt: web.Timestamp(p.UpdatedAt),
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listJSON is a page of posts. page and page_size appear in the page/page_size form
// only; next_cursor continues after this page in either form and is absent at the end.
type listJSON struct {
	Posts      []postJSON `json:"posts"`
	Page       int        `json:"page,omitempty"`
	PageSize   int        `json:"page_size,omitempty"`
	HasMore    bool       `json:"has_more"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

type deletedJSON struct {
	PostID string `json:"post_id"`
}

// internalJSON is all the internal route tells: who owns the post and its image.
type internalJSON struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ImageKey string `json:"image_key"`
}
