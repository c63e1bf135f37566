package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"instant/platform/testenv"
)

// smallJPEG is a real image, as a phone would upload one.
func smallJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for x := range 32 {
		for y := range 24 {
			img.Set(x, y, color.RGBA{uint8(8 * x), uint8(10 * y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawRequest talks to object storage directly, as a client does with a presigned URL.
func rawRequest(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s presigned URL: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func username(prefix string) string { return strings.ReplaceAll(testenv.Name(prefix+"_"), "-", "") }

func TestPhotoJourney(t *testing.T) {
	s := startStack(t, true, gatewayLimits)
	a := newClient(t, s.GatewayURL)
	aliceID, _ := signUp(t, s, a, testenv.Name("alice")+"@example.com", username("alice"))
	b := newClient(t, s.GatewayURL)
	bobName := username("bob")
	bobID, _ := signUp(t, s, b, testenv.Name("bob")+"@example.com", bobName)

	// A uploads a photo straight to storage with a presigned URL.
	photo := smallJPEG(t)
	up := a.expect(200, "POST", "/api/files/upload-url", map[string]any{"filename": "sunset.jpg", "content_type": "image/jpeg"}, nil).json(t)
	uploadURL, _ := up["upload_url"].(string)
	key, _ := up["file_key"].(string)
	if up["success"] != true || uploadURL == "" || !strings.HasPrefix(key, "users/"+aliceID+"/") {
		t.Fatalf("upload-url answer: %v", up)
	}
	if status, body := rawRequest(t, "PUT", uploadURL, "image/jpeg", photo); status != 200 {
		t.Fatalf("PUT to storage: %d %s", status, body)
	}
	// The signed content type is enforced by storage itself.
	if status, _ := rawRequest(t, "PUT", uploadURL, "text/html", []byte("<script>")); status < 400 {
		t.Fatalf("storage accepted a content type the URL was not signed for: %d", status)
	}

	// A posts it, with the file key in image_url as the original client does.
	created := a.expect(201, "POST", "/api/posts", map[string]any{"caption": "golden hour #sunset with @" + bobName, "image_url": key}, nil).json(t)
	post := created["data"].(map[string]any)
	postID, _ := post["post_id"].(string)
	if created["success"] != true || postID == "" || post["image_key"] != key {
		t.Fatalf("create post answer: %v", created)
	}
	a.expect(400, "POST", "/api/posts", map[string]any{"caption": "hotlink", "image_url": "https://example.com/x.jpg"}, nil)

	// Anyone signed in can fetch the image through its stable URL.
	imageURL, _ := post["image_url"].(string)
	r := b.expect(302, "GET", imageURL, nil, nil)
	if status, body := rawRequest(t, "GET", r.header.Get("Location"), "", nil); status != 200 || !bytes.Equal(body, photo) {
		t.Fatalf("GET image from storage: %d, %d bytes", status, len(body))
	}
	dl := b.expect(200, "POST", "/api/files/download-url", map[string]any{"file_key": key}, nil).json(t)
	if status, body := rawRequest(t, "GET", dl["download_url"].(string), "", nil); status != 200 || !bytes.Equal(body, photo) {
		t.Fatalf("GET download_url: %d, %d bytes", status, len(body))
	}

	// B follows A, likes and comments.
	if f := b.expect(200, "PUT", "/api/users/"+aliceID+"/follow", nil, nil).json(t); f["following"] != true {
		t.Fatalf("follow answer: %v", f)
	}
	b.expect(200, "PUT", "/api/users/"+aliceID+"/follow", nil, nil) // idempotent
	b.expect(400, "PUT", "/api/users/"+bobID+"/follow", nil, nil)   // not yourself
	b.expect(200, "PUT", "/api/posts/"+postID+"/like", nil, nil)
	b.expect(200, "PUT", "/api/posts/"+postID+"/like", nil, nil) // idempotent
	comment := b.expect(201, "POST", "/api/posts/"+postID+"/comments", map[string]any{"body": "what a view"}, nil).json(t)
	commentID, _ := comment["id"].(string)

	// A sees the like and the comment, and B among A's followers.
	likes := a.expect(200, "GET", "/api/posts/"+postID+"/likes", nil, nil).json(t)
	if likes["like_count"] != float64(1) {
		t.Fatalf("likes: %v", likes)
	}
	comments := a.expect(200, "GET", "/api/posts/"+postID+"/comments", nil, nil).json(t)
	items, _ := comments["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["body"] != "what a view" {
		t.Fatalf("comments: %v", comments)
	}
	followers := a.expect(200, "GET", "/api/users/"+aliceID+"/followers", nil, nil).json(t)
	if fs, _ := followers["items"].([]any); len(fs) != 1 || fs[0].(map[string]any)["user_id"] != bobID {
		t.Fatalf("followers: %v", followers)
	}
	counts := b.expect(200, "GET", "/api/users/"+aliceID+"/follow-counts", nil, nil).json(t)
	if counts["followers_count"] != float64(1) || counts["followed_by_me"] != true {
		t.Fatalf("follow counts: %v", counts)
	}
	// Lists of posts, in the original client's page form and by author.
	page := a.expect(200, "GET", "/api/posts?page=1&page_size=20", nil, nil).json(t)
	if ps, _ := page["data"].(map[string]any)["posts"].([]any); len(ps) == 0 {
		t.Fatalf("post list: %v", page)
	}
	b.expect(200, "GET", "/api/posts/users/"+aliceID+"?page=1&page_size=20", nil, nil)
	b.expect(200, "GET", "/api/tags/sunset/posts", nil, nil)

	// B may not touch what is A's.
	b.expect(403, "PATCH", "/api/posts/"+postID, map[string]any{"caption": "mine now"}, nil)
	b.expect(403, "DELETE", "/api/posts/"+postID, nil, nil)
	b.expect(403, "DELETE", "/api/files/"+key, nil, nil)

	// A may remove B's comment on A's post, and edit the caption.
	a.expect(200, "DELETE", "/api/comments/"+commentID, nil, nil)
	a.expect(200, "PATCH", "/api/posts/"+postID, map[string]any{"caption": "golden hour, edited"}, nil)

	// A deletes the post; its image disappears from storage.
	a.expect(200, "DELETE", "/api/posts/"+postID, nil, nil)
	a.expect(404, "GET", "/api/posts/"+postID, nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a.do("POST", "/api/files/download-url", map[string]any{"file_key": key}, nil).status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted post's image is still in storage")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
