package e2e

import (
	"testing"
	"time"

	"instant/platform/testenv"
)

// feedItem finds a post in a page of feed items.
func feedItem(page map[string]any, postID string) map[string]any {
	items, _ := page["items"].([]any)
	for _, it := range items {
		if m, _ := it.(map[string]any); m["id"] == postID {
			return m
		}
	}
	return nil
}

// TestHomeFeed walks three users through follows, posts, likes and comments, and
// watches each home timeline follow along through the events.
func TestHomeFeed(t *testing.T) {
	s := startStack(t, true, gatewayLimits)
	a, b, c := newClient(t, s.GatewayURL), newClient(t, s.GatewayURL), newClient(t, s.GatewayURL)
	aName := username("ann")
	aID, _ := signUp(t, s, a, testenv.Name("ann")+"@example.com", aName)
	bID, _ := signUp(t, s, b, testenv.Name("ben")+"@example.com", username("ben"))
	signUp(t, s, c, testenv.Name("cat")+"@example.com", username("cat"))

	b.expect(200, "PUT", "/api/users/"+aID+"/follow", nil, nil)
	c.expect(200, "PUT", "/api/users/"+aID+"/follow", nil, nil)
	a.expect(200, "PUT", "/api/users/"+bID+"/follow", nil, nil)
	aPost, _ := post(t, a, "from ann #feed")
	bPost, _ := post(t, b, "from ben")
	c.expect(200, "PUT", "/api/posts/"+aPost+"/like", nil, nil)
	b.expect(201, "POST", "/api/posts/"+aPost+"/comments", map[string]any{"body": "hello"}, nil)

	waitFor(t, "ann's post in ben's and cat's feeds with its counts", 30*time.Second, func() bool {
		fb := feedItem(b.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost)
		fc := feedItem(c.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost)
		return fb != nil && fc != nil &&
			fb["like_count"] == float64(1) && fb["comment_count"] == float64(1) && fb["liked_by_me"] == false &&
			fc["liked_by_me"] == true && fb["author"].(map[string]any)["username"] == aName
	})
	waitFor(t, "ann sees ben's post and her own", 30*time.Second, func() bool {
		page := a.expect(200, "GET", "/api/feed", nil, nil).json(t)
		return feedItem(page, bPost) != nil && feedItem(page, aPost) != nil
	})
	// Cat does not follow Ben: his post is not in her feed, but it is in explore.
	if feedItem(c.expect(200, "GET", "/api/feed", nil, nil).json(t), bPost) != nil {
		t.Fatal("a post from someone cat does not follow is in her feed")
	}
	waitFor(t, "both posts in explore", 30*time.Second, func() bool {
		page := c.expect(200, "GET", "/api/explore", nil, nil).json(t)
		return feedItem(page, aPost) != nil && feedItem(page, bPost) != nil
	})

	// Unfollowing removes ann's posts from cat's feed.
	c.expect(200, "DELETE", "/api/users/"+aID+"/follow", nil, nil)
	waitFor(t, "ann's post gone from cat's feed", 30*time.Second, func() bool {
		return feedItem(c.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost) == nil
	})

	// The profile page: counts, relationship, posts.
	waitFor(t, "ann's profile", 30*time.Second, func() bool {
		p := b.expect(200, "GET", "/api/profiles/"+aName, nil, nil).json(t)
		posts, _ := p["posts"].([]any)
		return p["followers_count"] == float64(1) && p["following_count"] == float64(1) &&
			p["post_count"] == float64(1) && p["followed_by_me"] == true && len(posts) == 1
	})
	b.expect(200, "GET", "/api/profiles/id/"+aID, nil, nil)
	b.expect(404, "GET", "/api/profiles/nobody_here_at_all", nil, nil)

	// Deleting a post removes it from every feed.
	a.expect(200, "DELETE", "/api/posts/"+aPost, nil, nil)
	waitFor(t, "the deleted post gone from feeds", 30*time.Second, func() bool {
		return feedItem(b.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost) == nil &&
			feedItem(a.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost) == nil
	})
}
