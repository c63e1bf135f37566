package followhttp

import (
	"time"

	"instant/services/follow/internal/follow"
)

// followResponse answers a follow or unfollow: whether the caller now follows the user,
// and the user's counts after the change.
type followResponse struct {
	UserID         string `json:"user_id"`
	Following      bool   `json:"following"`
	FollowersCount int64  `json:"followers_count"`
	FollowingCount int64  `json:"following_count"`
}

func followed(c follow.Counts, following bool) followResponse {
	return followResponse{UserID: c.UserID, Following: following, FollowersCount: c.Followers, FollowingCount: c.Following}
}

// edgeJSON is one entry of a followers or following list.
type edgeJSON struct {
	UserID     string    `json:"user_id"`
	FollowedAt time.Time `json:"followed_at"`
}

type pageResponse struct {
	Items      []edgeJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func page(p follow.Page) pageResponse {
	out := pageResponse{Items: make([]edgeJSON, len(p.Items))}
	for i, e := range p.Items {
		out.Items[i] = edgeJSON{UserID: e.UserID, FollowedAt: e.FollowedAt.UTC()}
	}
	if p.Next != nil {
		out.NextCursor = p.Next.Encode()
	}
	return out
}

// relationResponse is a user's counts as the caller sees them.
type relationResponse struct {
	UserID         string `json:"user_id"`
	FollowersCount int64  `json:"followers_count"`
	FollowingCount int64  `json:"following_count"`
	FollowedByMe   bool   `json:"followed_by_me"`
	FollowsMe      bool   `json:"follows_me"`
}

func relation(r follow.Relation) relationResponse {
	return relationResponse{UserID: r.UserID, FollowersCount: r.Followers, FollowingCount: r.Following,
		FollowedByMe: r.FollowedByMe, FollowsMe: r.FollowsMe}
}

// countsJSON is one user's counts in a batch.
type countsJSON struct {
	UserID         string `json:"user_id"`
	FollowersCount int64  `json:"followers_count"`
	FollowingCount int64  `json:"following_count"`
}

type batchCountsResponse struct {
	Items []countsJSON `json:"items"`
}

func batchCounts(cs []follow.Counts) batchCountsResponse {
	out := batchCountsResponse{Items: make([]countsJSON, len(cs))}
	for i, c := range cs {
		out.Items[i] = countsJSON{UserID: c.UserID, FollowersCount: c.Followers, FollowingCount: c.Following}
	}
	return out
}
