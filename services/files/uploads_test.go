package main

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestInternalUploads is files' side of posts' sweep of unused uploads: a listing of the
// uploads older than a time, a page at a time, and the removal of those posts found
// unused — uploads only, never anything else in the bucket.
func TestInternalUploads(t *testing.T) {
	h := newHarness(t, env(t))
	jpeg := []byte("\xff\xd8\xff\xe0 an upload")
	owner := uuid.New()
	var keys []string
	for range 3 {
		keys = append(keys, h.upload(t, owner, "a.jpg", jpeg))
	}
	slices.Sort(keys)
	h.putObject(t, "not-an-upload/x.jpg", jpeg) // outside users/: never listed or removed

	type page struct {
		Uploads []struct {
			Key        string    `json:"key"`
			Size       int64     `json:"size"`
			UploadedAt time.Time `json:"uploaded_at"`
		} `json:"uploads"`
		Next string `json:"next"`
	}
	list := func(before time.Time, after string, limit int) page {
		t.Helper()
		q := url.Values{"before": {before.Format(time.RFC3339Nano)}, "after": {after}}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		rec := h.do(t, call{method: "GET", path: "/internal/uploads?" + q.Encode()})
		mustStatus(t, rec, http.StatusOK)
		var p page
		decode(t, rec, &p)
		return p
	}

	// Nothing is older than an hour ago.
	if p := list(time.Now().Add(-time.Hour), "", 0); len(p.Uploads) != 0 || p.Next != "" {
		t.Fatalf("uploads older than an hour: %+v", p)
	}
	// Everything is older than an hour from now; two pages of two.
	var got []string
	p := list(time.Now().Add(time.Hour), "", 2)
	for _, u := range p.Uploads {
		got = append(got, u.Key)
		if u.Size != int64(len(jpeg)) || time.Since(u.UploadedAt) > time.Hour {
			t.Errorf("listed %+v", u)
		}
	}
	if p.Next != keys[1] {
		t.Fatalf("first page ends at %q, want %q", p.Next, keys[1])
	}
	p = list(time.Now().Add(time.Hour), p.Next, 2)
	for _, u := range p.Uploads {
		got = append(got, u.Key)
	}
	if !slices.Equal(got, keys) || p.Next != "" {
		t.Fatalf("listed %v then next %q, want %v and the end", got, p.Next, keys)
	}

	// Removing: two of them; the third and the non-upload stay.
	rec := h.do(t, call{method: "POST", path: "/internal/uploads/delete", body: map[string]any{"keys": keys[:2]}})
	mustStatus(t, rec, http.StatusOK)
	var removed struct{ Removed int }
	decode(t, rec, &removed)
	if removed.Removed != 2 || h.exists(t, keys[0]) || h.exists(t, keys[1]) || !h.exists(t, keys[2]) || !h.exists(t, "not-an-upload/x.jpg") {
		t.Fatalf("removed %d; left: %v %v %v, the non-upload %v", removed.Removed,
			h.exists(t, keys[0]), h.exists(t, keys[1]), h.exists(t, keys[2]), h.exists(t, "not-an-upload/x.jpg"))
	}

	// Anything but uploads' keys is refused whole.
	rec = h.do(t, call{method: "POST", path: "/internal/uploads/delete", body: map[string]any{"keys": []string{keys[2], "not-an-upload/x.jpg"}}})
	mustStatus(t, rec, http.StatusBadRequest)
	if !h.exists(t, keys[2]) {
		t.Fatal("a refused removal removed an upload")
	}
	for _, path := range []string{"/internal/uploads", "/internal/uploads?before=yesterday", "/internal/uploads?before=" +
		url.QueryEscape(time.Now().Format(time.RFC3339)) + "&limit=0"} {
		mustStatus(t, h.do(t, call{method: "GET", path: path}), http.StatusBadRequest)
	}

	// The info posts reads before accepting an image says when it was uploaded.
	rec = h.do(t, call{method: "GET", path: "/internal/files/" + keys[2]})
	mustStatus(t, rec, http.StatusOK)
	var info struct {
		UploadedAt time.Time `json:"uploaded_at"`
	}
	decode(t, rec, &info)
	if time.Since(info.UploadedAt) > time.Hour || info.UploadedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("uploaded_at %v", info.UploadedAt)
	}
}
