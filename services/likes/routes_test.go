package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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

func summariesCall(as string, ids ...string) call {
	return call{method: "GET", path: "/api/likes?post_ids=" + strings.Join(ids, ","), as: as}
}

// summary reads one post's count and whether user likes it.
func (h *harness) summary(t *testing.T, user, post string) summaryJSON {
	t.Helper()
	r := h.do(t, summariesCall(user, post))
	mustStatus(t, r, http.StatusOK)
	var s summariesJSON
	decode(t, r, &s)
	return s.Items[0]
}

func state(t *testing.T, r *rec) stateJSON {
	t.Helper()
	var s stateJSON
	decode(t, r, &s)
	return s
}

func routeCases() []routeCase {
	return []routeCase{
		// PUT /api/posts/{id}/like
		{"like_200", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			r := h.do(t, likeCall(user, post))
			return r, func(t *testing.T) {
				if got := state(t, r); got != (stateJSON{PostID: post, Liked: true, LikeCount: 1}) {
					t.Fatalf("state = %+v", got)
				}
				e, data := h.event(t, "like.created", post, user)
				if e.Producer != "likes" || len(data) != 3 || data["post_id"] != post {
					t.Fatalf("like.created producer %q data %v", e.Producer, data)
				}
				at, err := time.Parse(time.RFC3339Nano, data["created_at"].(string))
				if err != nil || at.Location() != time.UTC {
					t.Fatalf("created_at %v is not RFC 3339 UTC", data["created_at"])
				}
			}
		}},
		{"like_200_repeat_changes_nothing", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			h.like(t, user, post)
			r := h.do(t, likeCall(user, post))
			return r, func(t *testing.T) {
				if got := state(t, r); got != (stateJSON{PostID: post, Liked: true, LikeCount: 1}) {
					t.Fatalf("state = %+v", got)
				}
				// Another user's like goes out after anything the repeat might have
				// recorded (one post's events leave in order), so once it is here a second
				// like.created for the repeat would be too.
				other := newUser()
				h.like(t, other, post)
				h.event(t, "like.created", post, other)
				// The awaited event was taken off the reader: the first like's remains, alone.
				if n := len(h.likeEvents(t, "like.created", post)); n != 1 {
					t.Fatalf("%d like.created events besides the other user's for one like and a repeat", n)
				}
			}
		}},
		{"like_200_counts_every_user", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			for range 3 {
				h.like(t, newUser(), post)
			}
			r := h.do(t, likeCall(newUser(), post))
			return r, func(t *testing.T) {
				if got := state(t, r); got.LikeCount != 4 || !got.Liked {
					t.Fatalf("state = %+v, want 4 likes", got)
				}
			}
		}},
		{"like_404_missing_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := uuid.NewString()
			r := h.do(t, likeCall(newUser(), post))
			return r, func(t *testing.T) {
				if s := h.summary(t, newUser(), post); s.LikeCount != 0 {
					t.Fatalf("a like of a missing post was stored: %+v", s)
				}
			}
		}},
		{"like_404_deleted_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			h.like(t, newUser(), post)
			h.posts.remove(post)
			return only(h.do(t, likeCall(newUser(), post)))
		}},
		{"like_400_malformed_post_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, likeCall(newUser(), "42")))
		}},
		{"like_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, likeCall("", h.posts.add(newUser()))))
		}},
		{"like_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			victim, post := newUser(), h.posts.add(newUser())
			r := h.do(t, forged(likeCall("", post), victim))
			return r, func(t *testing.T) {
				if s := h.summary(t, victim, post); s.LikedByMe || s.LikeCount != 0 {
					t.Fatalf("a forged request liked as the victim: %+v", s)
				}
			}
		}},
		{"like_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, badlySigned(t, likeCall("", h.posts.add(newUser())), newUser())))
		}},
		{"like_200_signature_wins_over_x_user_id", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			me, victim, post := newUser(), newUser(), h.posts.add(newUser())
			c := likeCall(me, post)
			c.header = map[string]string{identity.HeaderUserID: victim}
			r := h.do(t, c)
			return r, func(t *testing.T) {
				if !h.summary(t, me, post).LikedByMe || h.summary(t, victim, post).LikedByMe {
					t.Fatal("the like was not recorded for the signed user alone")
				}
			}
		}},

		// DELETE /api/posts/{id}/like
		{"unlike_200", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			h.like(t, newUser(), post)
			h.like(t, user, post)
			_, created := h.event(t, "like.created", post, user)
			r := h.do(t, unlikeCall(user, post))
			return r, func(t *testing.T) {
				if got := state(t, r); got != (stateJSON{PostID: post, Liked: false, LikeCount: 1}) {
					t.Fatalf("state = %+v", got)
				}
				_, data := h.event(t, "like.deleted", post, user)
				// like.deleted describes the like removed, made at its created_at.
				if diff := cmp.Diff(created, data); diff != "" {
					t.Fatalf("like.deleted data (-like.created +like.deleted):\n%s", diff)
				}
				if h.summary(t, user, post).LikedByMe {
					t.Fatal("still liked after unlike")
				}
			}
		}},
		{"unlike_200_never_liked_changes_nothing", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			h.like(t, newUser(), post)
			r := h.do(t, unlikeCall(user, post))
			return r, func(t *testing.T) {
				if got := state(t, r); got != (stateJSON{PostID: post, Liked: false, LikeCount: 1}) {
					t.Fatalf("state = %+v", got)
				}
				// A later change of the post goes out after anything the unlike recorded.
				other := newUser()
				h.like(t, other, post)
				h.event(t, "like.created", post, other)
				if n := len(h.likeEvents(t, "like.deleted", post)); n != 0 {
					t.Fatalf("%d like.deleted events for an unlike that changed nothing", n)
				}
			}
		}},
		{"unlike_200_post_deleted", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			user, post := newUser(), h.posts.add(newUser())
			h.like(t, user, post)
			h.posts.remove(post)
			r := h.do(t, unlikeCall(user, post))
			return r, func(t *testing.T) {
				if got := state(t, r); got.Liked || got.LikeCount != 0 {
					t.Fatalf("state = %+v", got)
				}
			}
		}},
		{"unlike_400_malformed_post_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, unlikeCall(newUser(), "x")))
		}},
		{"unlike_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, unlikeCall("", h.posts.add(newUser()))))
		}},
		{"unlike_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			victim, post := newUser(), h.posts.add(newUser())
			h.like(t, victim, post)
			r := h.do(t, forged(unlikeCall("", post), victim))
			return r, func(t *testing.T) {
				if s := h.summary(t, victim, post); !s.LikedByMe || s.LikeCount != 1 {
					t.Fatalf("a forged request unliked as the victim: %+v", s)
				}
			}
		}},
		{"unlike_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			victim, post := newUser(), h.posts.add(newUser())
			h.like(t, victim, post)
			r := h.do(t, badlySigned(t, unlikeCall("", post), victim))
			return r, func(t *testing.T) {
				if s := h.summary(t, victim, post); !s.LikedByMe {
					t.Fatal("a badly signed request unliked as the victim")
				}
			}
		}},

		// GET /api/posts/{id}/likes
		{"likers_200_newest_first_in_pages", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			var users []string
			for range 5 {
				u := newUser()
				h.like(t, u, post)
				users = append(users, u)
			}
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/likes?limit=2", as: users[0]})
			return r, func(t *testing.T) {
				var page likersJSON
				decode(t, r, &page)
				if page.PostID != post || page.LikeCount != 5 || !page.LikedByMe {
					t.Fatalf("page = %+v, want 5 likes, liked by me", page)
				}
				var got []string
				for pages := 1; ; pages++ {
					for _, l := range page.Items {
						got = append(got, l.UserID)
					}
					if page.NextCursor == "" {
						if pages != 3 {
							t.Fatalf("%d pages of 2 for 5 likers, want 3", pages)
						}
						break
					}
					page = h.likers(t, newUser(), post, "?limit=2&cursor="+page.NextCursor)
					if page.LikedByMe || page.LikeCount != 5 {
						t.Fatalf("another viewer's page = %+v", page)
					}
				}
				want := []string{users[4], users[3], users[2], users[1], users[0]}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("likers, newest first (-want +got):\n%s", diff)
				}
			}
		}},
		{"likers_200_stable_under_concurrent_likes", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			var users []string
			for range 3 {
				u := newUser()
				h.like(t, u, post)
				users = append(users, u)
			}
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/likes?limit=2", as: newUser()})
			return r, func(t *testing.T) {
				var first likersJSON
				decode(t, r, &first)
				h.like(t, newUser(), post) // newer than every listed like: not on later pages
				rest := h.likers(t, newUser(), post, "?cursor="+first.NextCursor)
				var got []string
				for _, l := range append(first.Items, rest.Items...) {
					got = append(got, l.UserID)
				}
				if diff := cmp.Diff([]string{users[2], users[1], users[0]}, got); diff != "" {
					t.Fatalf("likers across a concurrent like (-want +got):\n%s", diff)
				}
			}
		}},
		{"likers_200_empty", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			r := h.do(t, call{method: "GET", path: "/api/posts/" + post + "/likes", as: newUser()})
			return r, func(t *testing.T) {
				var raw map[string]json.RawMessage
				decode(t, r, &raw)
				if string(raw["items"]) != "[]" || string(raw["like_count"]) != "0" || string(raw["liked_by_me"]) != "false" {
					t.Fatalf("body = %s", r.Body)
				}
				if _, ok := raw["next_cursor"]; ok {
					t.Fatal("next_cursor on a one-page list")
				}
			}
		}},
		{"likers_400_bad_cursor", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/likes?cursor=zz", as: newUser()}))
		}},
		{"likers_400_limit_over_100", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/likes?limit=500", as: newUser()}))
		}},
		{"likers_400_malformed_post_id", 400, "invalid_id", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/nope/likes", as: newUser()}))
		}},
		{"likers_404_missing_post", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + uuid.NewString() + "/likes", as: newUser()}))
		}},
		{"likers_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/posts/" + h.posts.add(newUser()) + "/likes"}))
		}},

		// GET /api/likes?post_ids=
		{"summaries_200_in_order_given", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			me := newUser()
			a, b, unknown := h.posts.add(newUser()), h.posts.add(newUser()), uuid.NewString()
			h.like(t, me, a)
			h.like(t, newUser(), a)
			h.like(t, newUser(), b)
			calls := h.posts.calls.Load()
			r := h.do(t, summariesCall(me, b, unknown, strings.ToUpper(a), b))
			return r, func(t *testing.T) {
				var got summariesJSON
				decode(t, r, &got)
				want := summariesJSON{Items: []summaryJSON{
					{PostID: b, LikeCount: 1}, {PostID: unknown}, {PostID: a, LikeCount: 2, LikedByMe: true}, {PostID: b, LikeCount: 1},
				}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("summaries (-want +got):\n%s", diff)
				}
				if h.posts.calls.Load() != calls {
					t.Fatal("the batch read asked posts")
				}
			}
		}},
		{"summaries_200_100_posts", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = uuid.NewString()
			}
			return only(h.do(t, summariesCall(newUser(), ids...)))
		}},
		{"summaries_400_101_posts", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			ids := make([]string, 101)
			for i := range ids {
				ids[i] = uuid.NewString()
			}
			return only(h.do(t, summariesCall(newUser(), ids...)))
		}},
		{"summaries_400_malformed_id", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			r := h.do(t, summariesCall(newUser(), uuid.NewString(), "not-a-uuid"))
			return r, func(t *testing.T) {
				var eb errorBody
				decode(t, r, &eb)
				if eb.Error.Fields["post_ids"] == "" {
					t.Fatalf("no field error for post_ids: %s", r.Body)
				}
			}
		}},
		{"summaries_400_missing_post_ids", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/likes", as: newUser()}))
		}},
		{"summaries_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, summariesCall("", uuid.NewString())))
		}},
		{"summaries_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, forged(summariesCall("", uuid.NewString()), newUser())))
		}},

		// GET /internal/likes?post_ids=&user_id=
		{"internal_200_viewer_named", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			viewer, post := newUser(), h.posts.add(newUser())
			h.like(t, viewer, post)
			r := h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + post + "&user_id=" + viewer})
			return r, func(t *testing.T) {
				var got summariesJSON
				decode(t, r, &got)
				if diff := cmp.Diff(summariesJSON{Items: []summaryJSON{{PostID: post, LikeCount: 1, LikedByMe: true}}}, got); diff != "" {
					t.Fatal(diff)
				}
			}
		}},
		{"internal_200_anonymous_viewer", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			post := h.posts.add(newUser())
			h.like(t, newUser(), post)
			r := h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + post})
			return r, func(t *testing.T) {
				var got summariesJSON
				decode(t, r, &got)
				if got.Items[0] != (summaryJSON{PostID: post, LikeCount: 1}) {
					t.Fatalf("summary = %+v", got.Items[0])
				}
			}
		}},
		{"internal_200_signed_identity_is_the_viewer", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			viewer, post := newUser(), h.posts.add(newUser())
			h.like(t, viewer, post)
			r := h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + post, as: viewer})
			return r, func(t *testing.T) {
				var got summariesJSON
				decode(t, r, &got)
				if !got.Items[0].LikedByMe {
					t.Fatal("the signed viewer's like is not reported")
				}
			}
		}},
		{"internal_200_signed_identity_matches", 200, "", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			viewer := newUser()
			return only(h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + uuid.NewString() + "&user_id=" + viewer, as: viewer}))
		}},
		{"internal_403_signed_identity_differs", 403, "forbidden", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + uuid.NewString() + "&user_id=" + newUser(), as: newUser()}))
		}},
		{"internal_400_malformed_user_id", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + uuid.NewString() + "&user_id=bob"}))
		}},
		{"internal_400_too_many_posts", 400, "validation_failed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/likes?post_ids=" + strings.Repeat(uuid.NewString()+",", 100) + uuid.NewString()}))
		}},

		// The router's own answers.
		{"unknown_route_404", 404, "not_found", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/nothing", as: newUser()}))
		}},
		{"wrong_method_405", 405, "method_not_allowed", func(t *testing.T, h *harness) (*rec, func(*testing.T)) {
			return only(h.do(t, call{method: "POST", path: "/api/posts/" + uuid.NewString() + "/like", as: newUser()}))
		}},
	}
}
