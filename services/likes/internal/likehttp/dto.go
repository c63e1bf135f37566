package likehttp

import (
	"time"

	"instant/services/likes/internal/like"
)

// stateJSON answers PUT and DELETE /api/posts/{id}/like.
type stateJSON struct {
	PostID    string `json:"post_id"`
	Liked     bool   `json:"liked"`
	LikeCount int64  `json:"like_count"`
}

func toState(s like.State) stateJSON {
	return stateJSON{PostID: s.PostID, Liked: s.Liked, LikeCount: s.Count}
}

type likerJSON struct {
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
}

// likersResponse answers GET /api/posts/{id}/likes.
type likersResponse struct {
	PostID     string      `json:"post_id"`
	LikeCount  int64       `json:"like_count"`
	LikedByMe  bool        `json:"liked_by_me"`
	Items      []likerJSON `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

type summaryJSON struct {
	PostID    string `json:"post_id"`
	LikeCount int64  `json:"like_count"`
	LikedByMe bool   `json:"liked_by_me"`
}

// summariesResponse answers GET /api/likes and GET /internal/likes.
type summariesResponse struct {
	Items []summaryJSON `json:"items"`
}

func toSummaries(sums []like.Summary) summariesResponse {
	out := summariesResponse{Items: make([]summaryJSON, len(sums))}
	for i, s := range sums {
		out.Items[i] = summaryJSON{PostID: s.PostID, LikeCount: s.Count, LikedByMe: s.LikedByMe}
	}
	return out
}
