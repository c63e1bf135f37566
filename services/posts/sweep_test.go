package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestImageSweep: an image posted long ago stays, an upload never posted is removed
// once twice IMAGE_MAX_AGE old, a fresh one stays; and an upload older than
// IMAGE_MAX_AGE can no longer become a post. The sweep runs as the app runs it, every
// IMAGE_SWEEP_INTERVAL, against a stand-in of files' internal routes.
func TestImageSweep(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), func(e map[string]string) {
				e["IMAGE_MAX_AGE"] = "1h"
				e["IMAGE_SWEEP_INTERVAL"] = "20ms"
			})
			user := uuid.NewString()
			posted := h.createPost(t, user, "kept").ImageKey
			h.files.age(posted, 3*time.Hour)
			abandoned := h.files.upload(user, uuid.NewString()+".jpg", jpeg, 1000)
			h.files.age(abandoned, 3*time.Hour)
			fresh := h.files.upload(user, uuid.NewString()+".jpg", jpeg, 1000)

			deadline := time.Now().Add(20 * time.Second) // a guard, not a timing claim
			for h.files.has(abandoned) {
				if time.Now().After(deadline) {
					t.Fatal("the abandoned upload was never swept")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// A few more sweeps: nothing else goes.
			sweeps := metricValue(t, h.proc.Registry, "posts_image_sweeps_total", map[string]string{"result": "ok"})
			for metricValue(t, h.proc.Registry, "posts_image_sweeps_total", map[string]string{"result": "ok"}) < sweeps+3 {
				if time.Now().After(deadline) {
					t.Fatal("the sweep stopped running")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !h.files.has(posted) || !h.files.has(fresh) {
				t.Fatalf("swept what it must keep: posted image there %v, fresh upload there %v", h.files.has(posted), h.files.has(fresh))
			}
			if n := metricValue(t, h.proc.Registry, "posts_unused_images_removed_total", nil); n != 1 {
				t.Errorf("posts_unused_images_removed_total = %v, want 1", n)
			}

			// Too old to post: it would be swept before long.
			stale := h.files.upload(user, uuid.NewString()+".jpg", jpeg, 1000)
			h.files.age(stale, 90*time.Minute)
			rec := h.do(t, call{method: "POST", path: "/api/posts", as: user, body: map[string]string{"caption": "late", "image_key": stale}})
			mustStatus(t, rec, http.StatusBadRequest)
			var eb errorBody
			decode(t, rec, &eb)
			if eb.Error.Code != "image_expired" {
				t.Fatalf("error body %s, want code image_expired", rec.Body)
			}
		})
	}
}
