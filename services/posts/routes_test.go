package main

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"instant/platform/identity"
)

// routeCase is one request and the status it must get. run prepares what the request
// needs, sends it and returns the response, plus optional checks that run once the
// status has been asserted.
type routeCase struct {
	name string
	want int
	code string // error code in the JSON envelope, for statuses >= 400
	run  func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(t *testing.T))
}

// TestRoutes sends every route through the handler newApp builds, on PostgreSQL and on
// SQLite.
func TestRoutes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t))
			for _, tc := range routeCases() {
				t.Run(tc.name, func(t *testing.T) {
					rec, then := tc.run(t, h)
					mustStatus(t, rec, tc.want)
					if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Fatalf("Content-Type = %q, want JSON", ct)
					}
					if tc.want >= 400 {
						var eb errorBody
						decode(t, rec, &eb)
						if eb.Success || eb.Error.Code != tc.code || eb.Error.Message == "" {
							t.Fatalf("error body = %s, want code %q", rec.Body, tc.code)
						}
					}
					if then != nil {
						then(t)
					}
				})
			}
		})
	}
}

func only(rec *httptest.ResponseRecorder) (*httptest.ResponseRecorder, func(*testing.T)) {
	return rec, nil
}

// create is a POST /api/posts as user with body.
func create(user string, body any) call {
	return call{method: "POST", path: "/api/posts", as: user, body: body}
}

// forged is a request that claims to be user through X-User-ID alone, as a client
// bypassing the gateway could send it.
func forged(c call, user string) call {
	c.as = ""
	c.header = map[string]string{identity.HeaderUserID: user}
	return c
}

// foreignSigned is a request signed for user with a secret that is not the service's.
func foreignSigned(t *testing.T, c call, user string) call {
	t.Helper()
	other, err := identity.NewSigner("another-secret-another-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	c.as = ""
	c.header = map[string]string{identity.HeaderUserID: user, identity.HeaderSignature: other.Sign(user)}
	return c
}

// fieldError asserts a validation error on field.
func fieldError(field string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		var eb errorBody
		decode(t, rec, &eb)
		if eb.Error.Fields[field] == "" {
			t.Fatalf("no field error for %s: %s", field, rec.Body)
		}
	}
}

// unchanged asserts that post p reads back as it was.
func unchanged(t *testing.T, h *harness, p postJSON) {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/posts/" + p.ID, as: p.UserID})
	mustStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(p, data[postJSON](t, rec)); diff != "" {
		t.Fatalf("post changed (-before +after):\n%s", diff)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func routeCases() []routeCase {
	return []routeCase{
		// POST /api/posts
		{"create_201", 201, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "sunset.jpg", jpeg, 1000)
			rec := h.do(t, create(user, map[string]string{"caption": "Sunset at #Malibu with @Alice_B", "image_key": key}))
			return rec, func(t *testing.T) {
				p := data[postJSON](t, rec)
				if _, err := uuid.Parse(p.ID); err != nil || p.PostID != p.ID {
					t.Fatalf("id = %q, post_id = %q", p.ID, p.PostID)
				}
				want := postJSON{PostID: p.ID, ID: p.ID, UserID: user, Caption: "Sunset at #Malibu with @Alice_B",
					ImageKey: key, ImageURL: "/api/files/" + key, Hashtags: []string{"malibu"}, Mentions: []string{"alice_b"},
					CreatedAt: p.CreatedAt, UpdatedAt: p.CreatedAt}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Fatalf("post (-want +got):\n%s", diff)
				}
				created, err := time.Parse(time.RFC3339Nano, p.CreatedAt)
				if err != nil || !strings.HasSuffix(p.CreatedAt, "Z") || time.Since(created) > time.Hour {
					t.Fatalf("created_at %q is not a recent RFC 3339 UTC time", p.CreatedAt)
				}
				if loc := rec.Header().Get("Location"); loc != "/api/posts/"+p.ID {
					t.Fatalf("Location = %q", loc)
				}
				if got := h.files.lastCaller(); got != user {
					t.Fatalf("files was asked as %q, want the author %q", got, user)
				}
				// The raw body carries every field the original client and ours read.
				var raw struct{ Data map[string]any }
				decode(t, rec, &raw)
				wantKeys := []string{"caption", "comment_count", "created_at", "hashtags", "id", "image_key", "image_url",
					"like_count", "mentions", "post_id", "updated_at", "user_id", "username"}
				if diff := cmp.Diff(wantKeys, keys(raw.Data)); diff != "" {
					t.Fatalf("fields (-want +got):\n%s", diff)
				}
				ev := h.event(t, "post.created", p.ID)
				wantEv := map[string]any{"id": p.ID, "user_id": user, "caption": p.Caption, "image_key": key,
					"hashtags": []any{"malibu"}, "mentions": []any{"alice_b"}, "created_at": p.CreatedAt, "updated_at": p.UpdatedAt}
				if diff := cmp.Diff(wantEv, ev); diff != "" {
					t.Fatalf("post.created data (-want +got):\n%s", diff)
				}
			}
		}},
		{"create_201_image_url_alias", 201, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.png", "image/png", 2000)
			rec := h.do(t, create(user, map[string]string{"caption": "original client", "image_url": key}))
			return rec, func(t *testing.T) {
				if p := data[postJSON](t, rec); p.ImageKey != key || p.PostID == "" {
					t.Fatalf("post = %+v", p)
				}
			}
		}},
		{"create_201_image_path", 201, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "b.webp", "image/webp", 2000)
			rec := h.do(t, create(user, map[string]string{"image_url": "/api/files/" + key, "image_key": "/api/files/" + key}))
			return rec, func(t *testing.T) {
				if p := data[postJSON](t, rec); p.ImageKey != key || p.Caption != "" {
					t.Fatalf("post = %+v", p)
				}
			}
		}},
		{"create_201_max_caption", 201, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "c.gif", "image/gif", maxImage)
			caption := strings.Repeat("😀", 2200)
			rec := h.do(t, create(user, map[string]string{"caption": caption, "image_key": key}))
			return rec, func(t *testing.T) {
				if p := data[postJSON](t, rec); p.Caption != caption {
					t.Fatal("caption not kept whole")
				}
			}
		}},
		{"create_400_external_https", 400, "external_image_url", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			before := h.files.callCount()
			rec := h.do(t, create(newUser(), map[string]string{"caption": "x", "image_url": "https://tracker.example/pixel.gif"}))
			return rec, func(t *testing.T) {
				if h.files.callCount() != before {
					t.Fatal("files was asked about an external URL")
				}
			}
		}},
		{"create_400_external_http_in_image_key", 400, "external_image_url", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, create(newUser(), map[string]string{"image_key": "http://example.com/a.jpg"})))
		}},
		{"create_400_external_scheme_relative", 400, "external_image_url", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, create(newUser(), map[string]string{"image_url": "//cdn.example/a.jpg"})))
		}},
		{"create_400_external_beside_own_key", 400, "external_image_url", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			return only(h.do(t, create(user, map[string]string{"image_key": key, "image_url": "https://x.example/a.jpg"})))
		}},
		{"create_400_no_image", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, create(newUser(), map[string]string{"caption": "no image"}))
			return rec, func(t *testing.T) { fieldError("image_key")(t, rec) }
		}},
		{"create_400_malformed_key", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			rec := h.do(t, create(user, map[string]string{"image_key": "users/" + user + "/../x.jpg"}))
			return rec, func(t *testing.T) { fieldError("image_key")(t, rec) }
		}},
		{"create_400_image_fields_differ", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			a := h.files.upload(user, "a.jpg", jpeg, 10)
			b := h.files.upload(user, "b.jpg", jpeg, 10)
			rec := h.do(t, create(user, map[string]string{"image_key": a, "image_url": b}))
			return rec, func(t *testing.T) { fieldError("image_url")(t, rec) }
		}},
		{"create_403_image_not_yours", 403, "image_not_yours", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner, thief := newUser(), newUser()
			key := h.files.upload(owner, "mine.jpg", jpeg, 1000)
			before := h.files.callCount()
			rec := h.do(t, create(thief, map[string]string{"image_key": key}))
			return rec, func(t *testing.T) {
				if h.files.callCount() != before {
					t.Fatal("files was asked about someone else's key")
				}
			}
		}},
		{"create_403_image_not_yours_missing", 403, "image_not_yours", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			// The same answer whether or not the other user's upload exists.
			return only(h.do(t, create(newUser(), map[string]string{"image_key": "users/" + newUser() + "/none.jpg"})))
		}},
		{"create_400_image_not_found", 400, "image_not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			return only(h.do(t, create(user, map[string]string{"image_key": "users/" + user + "/never-uploaded.jpg"})))
		}},
		{"create_400_wrong_type", 400, "image_type_not_allowed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "vector.svg", "image/svg+xml", 100)
			return only(h.do(t, create(user, map[string]string{"image_key": key})))
		}},
		{"create_400_too_big", 400, "image_too_large", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "huge.jpg", jpeg, maxImage+1)
			return only(h.do(t, create(user, map[string]string{"image_key": key})))
		}},
		{"create_400_empty_image", 400, "image_empty", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "empty.jpg", jpeg, 0)
			return only(h.do(t, create(user, map[string]string{"image_key": key})))
		}},
		{"create_400_caption_too_long", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			rec := h.do(t, create(user, map[string]string{"caption": strings.Repeat("é", 2201), "image_key": key}))
			return rec, func(t *testing.T) { fieldError("caption")(t, rec) }
		}},
		{"create_400_too_many_hashtags", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			var tags []string
			for i := range 31 {
				tags = append(tags, "#tag"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			}
			rec := h.do(t, create(user, map[string]string{"caption": strings.Join(tags, " "), "image_key": key}))
			return rec, func(t *testing.T) { fieldError("caption")(t, rec) }
		}},
		{"create_409_image_in_use", 409, "image_in_use", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "first")
			return only(h.do(t, create(p.UserID, map[string]string{"image_key": p.ImageKey})))
		}},
		{"create_201_409_same_image_at_once", 201, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "race.jpg", jpeg, 10)
			recs := make([]*httptest.ResponseRecorder, 4)
			var wg sync.WaitGroup
			for i := range recs {
				wg.Go(func() { recs[i] = h.do(t, create(user, map[string]string{"image_key": key})) })
			}
			wg.Wait()
			var created *httptest.ResponseRecorder
			for _, rec := range recs {
				switch rec.Code {
				case http.StatusCreated:
					if created != nil {
						t.Fatal("two posts were created on one image")
					}
					created = rec
				case http.StatusConflict:
				default:
					t.Fatalf("status = %d: %s", rec.Code, rec.Body)
				}
			}
			if created == nil {
				t.Fatal("no post was created")
			}
			return only(created)
		}},
		{"create_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, create("", map[string]string{"image_key": "users/x/a.jpg"})))
		}},
		{"create_401_forged_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			return only(h.do(t, forged(create(user, map[string]string{"image_key": key}), user)))
		}},
		{"create_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			return only(h.do(t, foreignSigned(t, create(user, map[string]string{"image_key": key}), user)))
		}},
		{"create_400_user_id_in_body", 400, "unknown_field", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			key := h.files.upload(user, "a.jpg", jpeg, 10)
			return only(h.do(t, create(user, map[string]string{"image_key": key, "user_id": newUser()})))
		}},
		{"create_400_invalid_json", 400, "invalid_json", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, create(newUser(), `{"caption":`)))
		}},
		{"create_415_not_json", 415, "unsupported_media_type", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			c := create(newUser(), `{"caption":"x"}`)
			c.header = map[string]string{"Content-Type": "text/plain"}
			return only(h.do(t, c))
		}},
		{"create_413_too_large", 413, "body_too_large", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, create(newUser(), `{"caption":"`+strings.Repeat("a", 70<<10)+`"}`)))
		}},

		// GET /api/posts/{id}
		{"get_200_any_signed_in_user", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "hello #World")
			rec := h.do(t, call{method: "GET", path: "/api/posts/" + p.ID, as: newUser()})
			return rec, func(t *testing.T) {
				if diff := cmp.Diff(p, data[postJSON](t, rec)); diff != "" {
					t.Fatalf("read back (-created +read):\n%s", diff)
				}
			}
		}},
		{"get_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + uuid.NewString(), as: newUser()}))
		}},
		{"get_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/not-a-uuid", as: newUser()}))
		}},
		{"get_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "")
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + p.ID}))
		}},

		// PATCH /api/posts/{id}
		{"patch_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "before #old with @someone")
			rec := h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: p.UserID, body: map[string]string{"caption": "after #New #new2 @Other"}})
			return rec, func(t *testing.T) {
				got := data[postJSON](t, rec)
				want := p
				want.Caption, want.Hashtags, want.Mentions, want.UpdatedAt = "after #New #new2 @Other", []string{"new", "new2"}, []string{"other"}, got.UpdatedAt
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("patched (-want +got):\n%s", diff)
				}
				if got.UpdatedAt <= p.UpdatedAt {
					t.Fatalf("updated_at %s not after %s", got.UpdatedAt, p.UpdatedAt)
				}
				unchanged(t, h, got)
				ev := h.event(t, "post.updated", p.ID)
				if ev["caption"] != got.Caption || ev["updated_at"] != got.UpdatedAt || ev["created_at"] != p.CreatedAt {
					t.Fatalf("post.updated data = %v", ev)
				}
				if diff := cmp.Diff([]any{"new", "new2"}, ev["hashtags"]); diff != "" {
					t.Fatalf("post.updated hashtags (-want +got):\n%s", diff)
				}
				if ids := tagPage(t, h, "old"); contains(ids, p.ID) {
					t.Fatal("the post is still on its old tag's page")
				}
				if ids := tagPage(t, h, "new2"); !contains(ids, p.ID) {
					t.Fatal("the post is not on its new tag's page")
				}
			}
		}},
		{"patch_200_same_caption_changes_nothing", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "same")
			rec := h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: p.UserID, body: map[string]string{"caption": "same"}})
			return rec, func(t *testing.T) {
				if diff := cmp.Diff(p, data[postJSON](t, rec)); diff != "" {
					t.Fatalf("post changed (-before +after):\n%s", diff)
				}
			}
		}},
		{"patch_200_empty_caption", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "#gone")
			rec := h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: p.UserID, body: map[string]string{"caption": ""}})
			return rec, func(t *testing.T) {
				if got := data[postJSON](t, rec); got.Caption != "" || len(got.Hashtags) != 0 || got.Hashtags == nil {
					t.Fatalf("post = %+v", got)
				}
			}
		}},
		{"patch_403_not_owner", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "mine")
			rec := h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: newUser(), body: map[string]string{"caption": "hijacked"}})
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"patch_401_forged_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "mine")
			rec := h.do(t, forged(call{method: "PATCH", path: "/api/posts/" + p.ID, body: map[string]string{"caption": "hijacked"}}, p.UserID))
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"patch_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "mine")
			rec := h.do(t, foreignSigned(t, call{method: "PATCH", path: "/api/posts/" + p.ID, body: map[string]string{"caption": "hijacked"}}, p.UserID))
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"patch_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "PATCH", path: "/api/posts/" + uuid.NewString(), as: newUser(), body: map[string]string{"caption": "x"}}))
		}},
		{"patch_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "PATCH", path: "/api/posts/123", as: newUser(), body: map[string]string{"caption": "x"}}))
		}},
		{"patch_400_caption_too_long", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "short")
			rec := h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: p.UserID, body: map[string]string{"caption": strings.Repeat("a", 2201)}})
			return rec, func(t *testing.T) { fieldError("caption")(t, rec); unchanged(t, h, p) }
		}},
		{"patch_400_image_is_not_editable", 400, "unknown_field", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "x")
			return only(h.do(t, call{method: "PATCH", path: "/api/posts/" + p.ID, as: p.UserID, body: map[string]string{"image_key": "users/x/y.jpg"}}))
		}},

		// DELETE /api/posts/{id}
		{"delete_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "bye #farewell")
			rec := h.do(t, call{method: "DELETE", path: "/api/posts/" + p.ID, as: p.UserID})
			return rec, func(t *testing.T) {
				var raw map[string]any
				decode(t, rec, &raw)
				if diff := cmp.Diff(map[string]any{"success": true, "data": map[string]any{"post_id": p.ID}}, raw); diff != "" {
					t.Fatalf("body (-want +got):\n%s", diff)
				}
				mustStatus(t, h.do(t, call{method: "GET", path: "/api/posts/" + p.ID, as: p.UserID}), http.StatusNotFound)
				mustStatus(t, h.do(t, call{method: "GET", path: "/internal/posts/" + p.ID}), http.StatusNotFound)
				if contains(tagPage(t, h, "farewell"), p.ID) {
					t.Fatal("a deleted post is on its tag's page")
				}
				ev := h.event(t, "post.deleted", p.ID)
				if diff := cmp.Diff(map[string]any{"id": p.ID, "user_id": p.UserID, "image_key": p.ImageKey}, ev); diff != "" {
					t.Fatalf("post.deleted data (-want +got):\n%s", diff)
				}
				// Its image may be used again (files deletes it on post.deleted, but until
				// then nothing else holds it).
				mustStatus(t, h.do(t, create(p.UserID, map[string]string{"image_key": p.ImageKey})), http.StatusCreated)
			}
		}},
		{"delete_403_not_owner", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "keep")
			rec := h.do(t, call{method: "DELETE", path: "/api/posts/" + p.ID, as: newUser()})
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"delete_401_forged_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "keep")
			rec := h.do(t, forged(call{method: "DELETE", path: "/api/posts/" + p.ID}, p.UserID))
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"delete_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "keep")
			rec := h.do(t, foreignSigned(t, call{method: "DELETE", path: "/api/posts/" + p.ID}, p.UserID))
			return rec, func(t *testing.T) { unchanged(t, h, p) }
		}},
		{"delete_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "DELETE", path: "/api/posts/" + uuid.NewString(), as: newUser()}))
		}},
		{"delete_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "DELETE", path: "/api/posts/x", as: newUser()}))
		}},

		// A user's posts.
		{"user_posts_200_both_paths", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := newUser()
			a := h.createPost(t, user, "a")
			b := h.createPost(t, user, "b")
			h.createPost(t, newUser(), "someone else's")
			rec := h.do(t, call{method: "GET", path: "/api/posts/users/" + user + "?page=1&page_size=20", as: newUser()})
			return rec, func(t *testing.T) {
				l := data[listJSON](t, rec)
				if diff := cmp.Diff([]string{b.ID, a.ID}, ids(l.Posts)); diff != "" {
					t.Fatalf("posts (-want +got):\n%s", diff)
				}
				if l.Page != 1 || l.PageSize != 20 || l.HasMore || l.NextCursor != "" {
					t.Fatalf("page fields = %+v", l)
				}
				other := h.do(t, call{method: "GET", path: "/api/users/" + user + "/posts", as: user})
				mustStatus(t, other, http.StatusOK)
				if diff := cmp.Diff([]string{b.ID, a.ID}, ids(data[listJSON](t, other).Posts)); diff != "" {
					t.Fatalf("/api/users/{id}/posts (-want +got):\n%s", diff)
				}
			}
		}},
		{"user_posts_200_none", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, call{method: "GET", path: "/api/users/" + newUser() + "/posts", as: newUser()})
			return rec, func(t *testing.T) {
				if !strings.Contains(rec.Body.String(), `"posts":[]`) {
					t.Fatalf("body = %s, want an empty posts array", rec.Body)
				}
			}
		}},
		{"user_posts_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/users/nope", as: newUser()}))
		}},
		{"user_posts_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/users/" + newUser() + "/posts"}))
		}},
		{"list_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, forged(call{method: "GET", path: "/api/posts"}, newUser())))
		}},
		{"list_400_page_zero", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, call{method: "GET", path: "/api/posts?page=0", as: newUser()})
			return rec, func(t *testing.T) { fieldError("page")(t, rec) }
		}},
		{"list_400_page_size_too_big", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, call{method: "GET", path: "/api/posts?page=1&page_size=101", as: newUser()})
			return rec, func(t *testing.T) { fieldError("page_size")(t, rec) }
		}},
		{"list_400_limit_not_a_number", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, call{method: "GET", path: "/api/posts?limit=ten", as: newUser()})
			return rec, func(t *testing.T) { fieldError("limit")(t, rec) }
		}},
		{"list_400_page_too_deep", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, call{method: "GET", path: "/api/posts?page=502&page_size=20", as: newUser()})
			return rec, func(t *testing.T) { fieldError("page")(t, rec) }
		}},
		{"list_400_bad_cursor", 400, "invalid_cursor", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts?cursor=garbage", as: newUser()}))
		}},
		{"list_400_page_and_cursor", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts?page=2&cursor=abc", as: newUser()}))
		}},
		{"tag_posts_400_invalid_tag", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/tags/no-dashes/posts", as: newUser()}))
		}},
		{"tag_posts_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/tags/x/posts"}))
		}},

		// GET /internal/posts/{id}
		{"internal_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			p := h.createPost(t, newUser(), "secret caption")
			rec := h.do(t, call{method: "GET", path: "/internal/posts/" + p.ID}) // no user needed
			return rec, func(t *testing.T) {
				var got map[string]any
				decode(t, rec, &got)
				if diff := cmp.Diff(map[string]any{"id": p.ID, "user_id": p.UserID, "image_key": p.ImageKey}, got); diff != "" {
					t.Fatalf("internal answer (-want +got):\n%s", diff)
				}
				withUser := h.do(t, call{method: "GET", path: "/internal/posts/" + p.ID, as: newUser()})
				mustStatus(t, withUser, http.StatusOK)
			}
		}},
		{"internal_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/posts/" + uuid.NewString()}))
		}},
		{"internal_404_malformed_id", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/posts/nope"}))
		}},
	}
}

func ids(ps []postJSON) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// tagPage returns the ids on the first page (100 posts) of tag.
func tagPage(t *testing.T, h *harness, tag string) []string {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/api/tags/" + tag + "/posts?limit=100", as: newUser()})
	mustStatus(t, rec, http.StatusOK)
	return ids(data[listJSON](t, rec).Posts)
}
