package feedhttp

import (
	"time"

	"instant/platform/web"

	"instant/services/feed/internal/feed"
)

// authorJSON names a post's author. username is "" until feed has heard of the account.
type authorJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// itemJSON is a post as the viewer sees it in any list.
type itemJSON struct {
	ID           string     `json:"id"`
	Author       authorJSON `json:"author"`
	ImageURL     string     `json:"image_url"`
	ImageKey     string     `json:"image_key"`
	Caption      string     `json:"caption"`
	LikeCount    int64      `json:"like_count"`
	CommentCount int64      `json:"comment_count"`
	LikedByMe    bool       `json:"liked_by_me"`
	CreatedAt    string     `json:"created_at"` // web.Timestamp: cheaper to encode than time.Time
}

func items(in []feed.Item) []itemJSON {
	out := make([]itemJSON, len(in))
	for i, it := range in {
		out[i] = itemJSON{
			ID: it.ID, Author: authorJSON{ID: it.Author.ID, Username: it.Author.Username},
			ImageURL: feed.ImageURL(it.ImageKey), ImageKey: it.ImageKey, Caption: it.Caption,
			LikeCount: it.LikeCount, CommentCount: it.CommentCount, LikedByMe: it.LikedByMe,
			CreatedAt: web.Timestamp(it.CreatedAt),
		}
	}
	return out
}

type pageResponse struct {
	Items      []itemJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func next(p feed.Page) string {
	if p.Next == nil {
		return ""
	}
	return p.Next.Encode()
}

func page(p feed.Page) pageResponse {
	return pageResponse{Items: items(p.Items), NextCursor: next(p)}
}

type userJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// profileResponse is a user's page: the account, its counts, whether the viewer follows
// it, and a page of its posts (the next pages through ?cursor= on the same route).
type profileResponse struct {
	User           userJSON   `json:"user"`
	PostCount      int64      `json:"post_count"`
	FollowersCount int64      `json:"followers_count"`
	FollowingCount int64      `json:"following_count"`
	FollowedByMe   bool       `json:"followed_by_me"`
	Posts          []itemJSON `json:"posts"`
	NextCursor     string     `json:"next_cursor,omitempty"`
}

func profile(p feed.Profile) profileResponse {
	return profileResponse{
		User:      userJSON{ID: p.User.ID, Username: p.User.Username, CreatedAt: p.User.CreatedAt.UTC()},
		PostCount: p.Stats.Posts, FollowersCount: p.Stats.Followers, FollowingCount: p.Stats.Following,
		FollowedByMe: p.Stats.FollowedByMe, Posts: items(p.Posts.Items), NextCursor: next(p.Posts),
	}
}
