package e2e

import (
	"testing"
	"time"

	"instant/platform/testenv"
)

// post uploads a photo for c and posts it; it returns the post id and the file key.
func post(t *testing.T, c *client, caption string) (string, string) {
	t.Helper()
	up := c.expect(200, "POST", "/api/files/upload-url", map[string]any{"filename": "p.jpg", "content_type": "image/jpeg"}, nil).json(t)
	if status, body := rawRequest(t, "PUT", up["upload_url"].(string), "image/jpeg", smallJPEG(t)); status != 200 {
		t.Fatalf("PUT to storage: %d %s", status, body)
	}
	key := up["file_key"].(string)
	p := c.expect(201, "POST", "/api/posts", map[string]any{"caption": caption, "image_key": key}, nil).json(t)
	return p["data"].(map[string]any)["post_id"].(string), key
}

// TestAccountDeletionLeavesNothing deletes an account that posted, liked, commented and
// followed, and polls every public route until nothing of it is readable — the purge
// travels by events through every service, so it is checked with a deadline, not a sleep.
func TestAccountDeletionLeavesNothing(t *testing.T) {
	s := startStack(t, true, gatewayLimits)
	a := newClient(t, s.GatewayURL)
	aEmail := testenv.Name("leaver") + "@example.com"
	aID, aSession := signUp(t, s, a, aEmail, username("leaver"))
	b := newClient(t, s.GatewayURL)
	bID, _ := signUp(t, s, b, testenv.Name("stayer")+"@example.com", username("stayer"))

	aPost, aKey := post(t, a, "mine")
	bPost, _ := post(t, b, "theirs")
	a.expect(200, "PUT", "/api/posts/"+bPost+"/like", nil, nil)
	a.expect(201, "POST", "/api/posts/"+bPost+"/comments", map[string]any{"body": "nice"}, nil)
	a.expect(200, "PUT", "/api/users/"+bID+"/follow", nil, nil)
	b.expect(200, "PUT", "/api/users/"+aID+"/follow", nil, nil)
	b.expect(200, "PUT", "/api/posts/"+aPost+"/like", nil, nil)
	waitFor(t, "A's post in B's feed", 30*time.Second, func() bool {
		return feedItem(b.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost) != nil
	})

	// The counts on B's post reflect A's like and comment before the deletion.
	waitFor(t, "counts on B's post", 30*time.Second, func() bool {
		d := b.expect(200, "GET", "/api/posts/"+bPost, nil, nil).json(t)["data"].(map[string]any)
		return d["like_count"] == float64(1) && d["comment_count"] == float64(1)
	})

	since := time.Now()
	a.expect(200, "POST", "/auth/users/"+aID+"/request-delete-code", nil, nil)
	code := readCode(t, s, aEmail, since)
	start := time.Now()
	a.expect(200, "POST", "/auth/users/"+aID+"/delete", map[string]any{"code": code}, nil)

	// Sessions end at once.
	newClient(t, s.GatewayURL).expect(401, "GET", "/auth/me", nil, map[string]string{"Authorization": "Bearer " + aSession})
	b.expect(404, "GET", "/api/users/"+aID, nil, nil)

	waitFor(t, "every trace of the deleted account", 60*time.Second, func() bool {
		if b.do("GET", "/api/posts/"+aPost, nil, nil).status != 404 {
			return false
		}
		if b.do("POST", "/api/files/download-url", map[string]any{"file_key": aKey}, nil).status != 404 {
			return false
		}
		d := b.expect(200, "GET", "/api/posts/"+bPost, nil, nil).json(t)["data"].(map[string]any)
		if d["like_count"] != float64(0) || d["comment_count"] != float64(0) {
			return false
		}
		if items, _ := b.expect(200, "GET", "/api/posts/"+bPost+"/comments", nil, nil).json(t)["items"].([]any); len(items) != 0 {
			return false
		}
		if l := b.expect(200, "GET", "/api/posts/"+bPost+"/likes", nil, nil).json(t); l["like_count"] != float64(0) {
			return false
		}
		fc := b.expect(200, "GET", "/api/users/"+bID+"/follow-counts", nil, nil).json(t)
		if fc["followers_count"] != float64(0) || fc["following_count"] != float64(0) {
			return false
		}
		page := b.expect(200, "GET", "/api/posts/users/"+aID+"?page=1&page_size=20", nil, nil).json(t)
		if ps, _ := page["data"].(map[string]any)["posts"].([]any); len(ps) != 0 {
			return false
		}
		if feedItem(b.expect(200, "GET", "/api/feed", nil, nil).json(t), aPost) != nil ||
			feedItem(b.expect(200, "GET", "/api/explore", nil, nil).json(t), aPost) != nil {
			return false
		}
		return b.do("GET", "/api/profiles/id/"+aID, nil, nil).status == 404
	})
	t.Logf("deletion settled across every service in %v", time.Since(start).Round(time.Millisecond))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
