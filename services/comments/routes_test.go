package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"instant/platform/events"
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
			h := newHarness(t, b.db(t), nil)
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

type rec = httptest.ResponseRecorder

func only(r *rec) (*rec, func(*testing.T)) { return r, nil }

func createCall(as, postID string, body any) call {
	return call{method: "POST", path: "/api/posts/" + postID + "/comments", as: as, body: body}
}

func patchCall(as, id string, body any) call {
	return call{method: "PATCH", path: "/api/comments/" + id, as: as, body: body}
}

func deleteCall(as, id string) call {
	return call{method: "DELETE", path: "/api/comments/" + id, as: as}
}

// forged sets X-User-ID the way a client that bypassed the gateway would, unsigned.
func forged(c call, user string) call {
	c.as = ""
	c.header = map[string]string{identity.HeaderUserID: user}
	return c
}

// badlySigned signs user with a secret the service does not share.
func badlySigned(t *testing.T, c call, user string) call {
	t.Helper()
	forger, err := identity.NewSigner("another-secret-another-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	c.as = ""
	c.header = map[string]string{identity.HeaderUserID: user, identity.HeaderSignature: forger.Sign(user)}
	return c
}

// checkUnchanged asserts that the post's only comment is still c, as it was.
func checkUnchanged(t *testing.T, h *harness, c commentJSON) {
	t.Helper()
	l := h.list(t, newUser(), c.PostID, "")
	if len(l.Items) != 1 || l.Items[0] != c {
		t.Fatalf("comments = %+v, want only %+v unchanged", l.Items, c)
	}
}

func routeCases() []routeCase {
	return []routeCase{
		// POST /api/posts/{id}/comments
		{"create_201", 201, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			r := h.do(t, createCall(user, post, map[string]string{"body": "  nice photo!\n"}))
			return r, func(t *testing.T) {
				var c commentJSON
				decode(t, r, &c)
				id, err := uuid.Parse(c.ID)
				if err != nil || id.Version() != 7 {
					t.Fatalf("id %q is not a UUID v7", c.ID)
				}
				if c.PostID != post || c.UserID != user || c.Body != "nice photo!" {
					t.Fatalf("comment = %+v", c)
				}
				at, err := time.Parse(time.RFC3339Nano, c.CreatedAt)
				if err != nil || at.Location() != time.UTC || c.UpdatedAt != c.CreatedAt {
					t.Fatalf("created_at %q / updated_at %q: want equal RFC 3339 UTC", c.CreatedAt, c.UpdatedAt)
				}
				e, data := h.event(t, "comment.created", c.ID)
				if e.Key != post || e.Producer != "comments" {
					t.Fatalf("envelope key %q producer %q, want the post id and comments", e.Key, e.Producer)
				}
				want := map[string]any{"id": c.ID, "post_id": post, "user_id": user, "body": "nice photo!", "created_at": c.CreatedAt}
				if !equalJSON(data, want) {
					t.Fatalf("comment.created data = %v, want %v", data, want)
				}
			}
		}},
		{"create_201_2200_characters", 201, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			body := strings.Repeat("😀", 2200)
			r := h.do(t, createCall(newUser(), h.posts.add(newUser()), map[string]string{"body": body}))
			return r, func(t *testing.T) {
				var c commentJSON
				decode(t, r, &c)
				if c.Body != body {
					t.Fatal("the body did not round-trip")
				}
			}
		}},
		{"create_400_blank_body", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			r := h.do(t, createCall(newUser(), h.posts.add(newUser()), map[string]string{"body": " \n "}))
			return r, func(t *testing.T) {
				var eb errorBody
				decode(t, r, &eb)
				if eb.Error.Fields["body"] == "" {
					t.Fatalf("no field error for body: %s", r.Body)
				}
			}
		}},
		{"create_400_missing_body", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), "{}")))
		}},
		{"create_400_2201_characters", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), map[string]string{"body": strings.Repeat("é", 2201)})))
		}},
		{"create_400_nul_character", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), map[string]string{"body": "a\x00b"})))
		}},
		{"create_400_malformed_post_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), "not-a-uuid", map[string]string{"body": "hi"})))
		}},
		{"create_400_unknown_field", 400, "unknown_field", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), `{"body":"hi","user_id":"someone"}`)))
		}},
		{"create_400_empty_request", 400, "empty_body", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), "")))
		}},
		{"create_415_not_json", 415, "unsupported_media_type", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			c := createCall(newUser(), h.posts.add(newUser()), `{"body":"hi"}`)
			c.header = map[string]string{"Content-Type": "text/plain"}
			return only(h.do(t, c))
		}},
		{"create_413_too_large", 413, "body_too_large", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), h.posts.add(newUser()), `{"body":"`+strings.Repeat("a", 40<<10)+`"}`)))
		}},
		{"create_404_missing_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall(newUser(), uuid.NewString(), map[string]string{"body": "hi"})))
		}},
		{"create_404_deleted_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			h.comment(t, newUser(), post, "first")
			h.posts.remove(post)
			return only(h.do(t, createCall(newUser(), post, map[string]string{"body": "too late"})))
		}},
		{"create_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, createCall("", h.posts.add(newUser()), map[string]string{"body": "hi"})))
		}},
		{"create_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			victim, post := newUser(), h.posts.add(newUser())
			r := h.do(t, forged(createCall("", post, map[string]string{"body": "as you"}), victim))
			return r, func(t *testing.T) {
				if l := h.list(t, newUser(), post, ""); len(l.Items) != 0 {
					t.Fatalf("a forged request wrote %+v", l.Items)
				}
			}
		}},
		{"create_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, badlySigned(t, createCall("", h.posts.add(newUser()), map[string]string{"body": "hi"}), newUser())))
		}},
		{"create_201_signature_wins_over_x_user_id", 201, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			me, victim, post := newUser(), newUser(), h.posts.add(newUser())
			c := createCall(me, post, map[string]string{"body": "mine"})
			c.header = map[string]string{identity.HeaderUserID: victim}
			r := h.do(t, c)
			return r, func(t *testing.T) {
				var got commentJSON
				decode(t, r, &got)
				if got.UserID != me {
					t.Fatalf("comment written as %s, want the signed user %s", got.UserID, me)
				}
			}
		}},

		// GET /api/posts/{id}/comments
		{"list_200_oldest_first_in_pages", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			var want []commentJSON
			for i := range 5 {
				want = append(want, h.comment(t, newUser(), post, "comment "+string(rune('a'+i))))
			}
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/comments?limit=2", as: newUser()})
			return r, func(t *testing.T) {
				var got []commentJSON
				var page listJSON
				decode(t, r, &page)
				for pages := 1; ; pages++ {
					got = append(got, page.Items...)
					if page.NextCursor == "" {
						if pages != 3 {
							t.Fatalf("%d pages of 2 for 5 comments, want 3", pages)
						}
						break
					}
					if len(page.Items) != 2 {
						t.Fatalf("a page before the last has %d items", len(page.Items))
					}
					page = h.list(t, newUser(), post, "?limit=2&cursor="+page.NextCursor)
				}
				if !equalComments(got, want) {
					t.Fatalf("pages = %+v, want %+v", got, want)
				}
			}
		}},
		{"list_200_stable_under_concurrent_inserts", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			var want []commentJSON
			for range 3 {
				want = append(want, h.comment(t, newUser(), post, "before"))
			}
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/comments?limit=2", as: newUser()})
			return r, func(t *testing.T) {
				var first listJSON
				decode(t, r, &first)
				for range 2 {
					want = append(want, h.comment(t, newUser(), post, "while paging"))
				}
				rest := h.list(t, newUser(), post, "?limit=100&cursor="+first.NextCursor)
				if got := append(first.Items, rest.Items...); !equalComments(got, want) {
					t.Fatalf("pages = %+v, want each comment once in order: %+v", got, want)
				}
				if rest.NextCursor != "" {
					t.Fatal("next_cursor on the last page")
				}
			}
		}},
		{"list_200_empty_items_array", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			r := h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/comments", as: newUser()})
			return r, func(t *testing.T) {
				var raw map[string]json.RawMessage
				decode(t, r, &raw)
				if string(raw["items"]) != "[]" {
					t.Fatalf("items = %s, want []", raw["items"])
				}
				if _, ok := raw["next_cursor"]; ok {
					t.Fatal("next_cursor on a one-page list")
				}
			}
		}},
		{"list_200_default_limit_20", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			for range 21 {
				h.comment(t, newUser(), post, "x")
			}
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/comments", as: newUser()})
			return r, func(t *testing.T) {
				var l listJSON
				decode(t, r, &l)
				if len(l.Items) != 20 || l.NextCursor == "" {
					t.Fatalf("%d items, next %q; want 20 and a cursor", len(l.Items), l.NextCursor)
				}
			}
		}},
		{"list_400_bad_cursor", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/comments?cursor=bm9wZQ", as: newUser()}))
		}},
		{"list_400_limit_over_100", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/comments?limit=101", as: newUser()}))
		}},
		{"list_400_limit_zero", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/comments?limit=0", as: newUser()}))
		}},
		{"list_400_malformed_post_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/123/comments", as: newUser()}))
		}},
		{"list_404_missing_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + uuid.NewString() + "/comments", as: newUser()}))
		}},
		{"list_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/comments"}))
		}},

		// PATCH /api/comments/{id}
		{"update_200", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user := newUser()
			c := h.comment(t, user, h.posts.add(newUser()), "frist")
			r := h.do(t, patchCall(user, c.ID, map[string]string{"body": " first "}))
			return r, func(t *testing.T) {
				var got commentJSON
				decode(t, r, &got)
				if got.ID != c.ID || got.PostID != c.PostID || got.UserID != user || got.Body != "first" || got.CreatedAt != c.CreatedAt {
					t.Fatalf("updated = %+v, from %+v", got, c)
				}
				created, _ := time.Parse(time.RFC3339Nano, got.CreatedAt)
				updated, err := time.Parse(time.RFC3339Nano, got.UpdatedAt)
				if err != nil || updated.Before(created) {
					t.Fatalf("updated_at %q before created_at %q", got.UpdatedAt, got.CreatedAt)
				}
				checkUnchanged(t, h, got) // the list shows the new body
			}
		}},
		{"update_403_not_author", 403, "forbidden", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			owner := newUser()
			c := h.comment(t, newUser(), h.posts.add(owner), "mine")
			// Not even the post's owner may put words in a commenter's mouth.
			r := h.do(t, patchCall(owner, c.ID, map[string]string{"body": "edited"}))
			return r, func(t *testing.T) { checkUnchanged(t, h, c) }
		}},
		{"update_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			author := newUser()
			c := h.comment(t, author, h.posts.add(newUser()), "mine")
			r := h.do(t, forged(patchCall("", c.ID, map[string]string{"body": "edited"}), author))
			return r, func(t *testing.T) { checkUnchanged(t, h, c) }
		}},
		{"update_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			author := newUser()
			c := h.comment(t, author, h.posts.add(newUser()), "mine")
			return only(h.do(t, badlySigned(t, patchCall("", c.ID, map[string]string{"body": "edited"}), author)))
		}},
		{"update_400_blank_body", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user := newUser()
			c := h.comment(t, user, h.posts.add(newUser()), "mine")
			return only(h.do(t, patchCall(user, c.ID, map[string]string{"body": "   "})))
		}},
		{"update_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, patchCall(newUser(), "abc", map[string]string{"body": "x"})))
		}},
		{"update_404_missing", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, patchCall(newUser(), uuid.NewString(), map[string]string{"body": "x"})))
		}},
		{"update_404_post_deleted", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			c := h.comment(t, user, post, "mine")
			h.posts.remove(post)
			return only(h.do(t, patchCall(user, c.ID, map[string]string{"body": "edited"})))
		}},

		// DELETE /api/comments/{id}
		{"delete_200_author", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			c := h.comment(t, user, post, "oops")
			r := h.do(t, deleteCall(user, c.ID))
			return r, func(t *testing.T) {
				var body map[string]string
				decode(t, r, &body)
				if len(body) != 1 || body["id"] != c.ID {
					t.Fatalf("body = %v, want {id}", body)
				}
				if l := h.list(t, user, post, ""); len(l.Items) != 0 {
					t.Fatalf("deleted comment still listed: %+v", l.Items)
				}
				e, data := h.event(t, "comment.deleted", c.ID)
				want := map[string]any{"id": c.ID, "post_id": post, "user_id": user}
				if e.Key != post || !equalJSON(data, want) {
					t.Fatalf("comment.deleted key %q data %v, want %s %v", e.Key, data, post, want)
				}
				mustStatus(t, h.do(t, deleteCall(user, c.ID)), http.StatusNotFound)
			}
		}},
		{"delete_200_post_owner", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			owner := newUser()
			post := h.posts.add(owner)
			c := h.comment(t, newUser(), post, "spam")
			r := h.do(t, deleteCall(owner, c.ID))
			return r, func(t *testing.T) {
				if l := h.list(t, owner, post, ""); len(l.Items) != 0 {
					t.Fatalf("comment still listed: %+v", l.Items)
				}
			}
		}},
		{"delete_200_author_after_post_deleted", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			c := h.comment(t, user, post, "mine")
			h.posts.remove(post)
			return only(h.do(t, deleteCall(user, c.ID)))
		}},
		{"delete_403_stranger", 403, "forbidden", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			c := h.comment(t, newUser(), h.posts.add(newUser()), "mine")
			r := h.do(t, deleteCall(newUser(), c.ID))
			return r, func(t *testing.T) { checkUnchanged(t, h, c) }
		}},
		{"delete_403_stranger_post_deleted", 403, "forbidden", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			c := h.comment(t, newUser(), post, "mine")
			h.posts.remove(post)
			return only(h.do(t, deleteCall(newUser(), c.ID)))
		}},
		{"delete_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			author := newUser()
			c := h.comment(t, author, h.posts.add(newUser()), "mine")
			r := h.do(t, forged(deleteCall("", c.ID), author))
			return r, func(t *testing.T) { checkUnchanged(t, h, c) }
		}},
		{"delete_401_forged_post_owner", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			owner := newUser()
			c := h.comment(t, newUser(), h.posts.add(owner), "mine")
			r := h.do(t, badlySigned(t, deleteCall("", c.ID), owner))
			return r, func(t *testing.T) { checkUnchanged(t, h, c) }
		}},
		{"delete_404_missing", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, deleteCall(newUser(), uuid.NewString())))
		}},
		{"delete_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, deleteCall(newUser(), "1")))
		}},

		// The router's own answers.
		{"unknown_route_404", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/nothing", as: newUser()}))
		}},
		{"wrong_method_405", 405, "method_not_allowed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "PUT", path: "/api/comments/" + uuid.NewString(), as: newUser()}))
		}},
	}
}

// equalJSON compares decoded JSON data with what a test expects.
func equalJSON(got map[string]any, want map[string]any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return string(a) == string(b)
}

func equalComments(a, b []commentJSON) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// eventCount counts the envelopes of type typ seen so far.
func eventCount(t *testing.T, h *harness, typ string) int {
	return h.events.count(t, func(e events.Envelope) bool { return e.Type == typ })
}
