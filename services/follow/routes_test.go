package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
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

func only(rec *httptest.ResponseRecorder) (*httptest.ResponseRecorder, func(*testing.T)) {
	return rec, nil
}

func put(path, as string) call    { return call{method: "PUT", path: path, as: as} }
func del(path, as string) call    { return call{method: "DELETE", path: path, as: as} }
func get(path, as string) call    { return call{method: "GET", path: path, as: as} }
func followPath(id string) string { return "/api/users/" + id + "/follow" }

// forged is a request that names a user in X-User-ID but carries no signature, as a
// client talking to the service directly (a port-forward) could send.
func forged(method, path, user string) call {
	return call{method: method, path: path, header: map[string]string{identity.HeaderUserID: user}}
}

// swapped is a request whose signature is user's but whose identity header names
// other: the MAC covers the user id, so it must not verify.
func swapped(h *harness, method, path, user, other string) call {
	sig := h.signer.Sign(user)
	parts := strings.Split(sig, ".")
	parts[1] = other
	return call{method: method, path: path, header: map[string]string{
		identity.HeaderSignature: strings.Join(parts, "."), identity.HeaderUserID: other}}
}

func routeCases() []routeCase {
	return []routeCase{
		// PUT /api/users/{id}/follow
		{"follow_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.auth.user(), h.auth.user()
			rec := h.do(t, put(followPath(b), a))
			return rec, func(t *testing.T) {
				var body followBody
				decode(t, rec, &body)
				if diff := cmp.Diff(followBody{UserID: b, Following: true, FollowersCount: 1}, body); diff != "" {
					t.Fatalf("body (-want +got):\n%s", diff)
				}
				e := h.events.wait(t, "follow.created", a, b)
				if e.Key != a || e.Producer != "follow" || e.data.CreatedAt.IsZero() || e.data.CreatedAt.Location() != time.UTC {
					t.Fatalf("event = %+v, want keyed by the follower, produced by follow, with created_at", e)
				}
				if rel := relationOf(t, h, a, b); !rel.FollowedByMe || rel.FollowsMe || rel.FollowersCount != 1 {
					t.Fatalf("relation = %+v", rel)
				}
			}
		}},
		{"follow_200_idempotent_no_second_event", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, c := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, c, b)
			first := h.follow(t, a, b)
			h.events.wait(t, "follow.created", a, b)
			rec := h.do(t, put(followPath(b), a))
			return rec, func(t *testing.T) {
				var again followBody
				decode(t, rec, &again)
				if diff := cmp.Diff(first, again); diff != "" || again.FollowersCount != 2 {
					t.Fatalf("second follow changed the answer (-first +second):\n%s", diff)
				}
				// A later event of the same follower: once it is here, a duplicate
				// follow.created would be too (one key, one partition, in order).
				h.follow(t, a, c)
				h.events.wait(t, "follow.created", a, c)
				if n := h.events.count("follow.created", a, b); n != 1 {
					t.Fatalf("%d follow.created events for one follow", n)
				}
			}
		}},
		{"follow_200_follower_is_the_signed_user", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, target := h.auth.user(), h.auth.user(), h.auth.user()
			c := put(followPath(target), a)
			c.header = map[string]string{identity.HeaderUserID: b} // a lie beside a valid signature
			rec := h.do(t, c)
			return rec, func(t *testing.T) {
				if got := h.list(t, "/api/users/"+target+"/followers", a).ids(); !cmp.Equal(got, []string{a}) {
					t.Fatalf("followers of target = %v, want only the signed user %s", got, a)
				}
				if got := h.list(t, "/api/users/"+b+"/following", a).ids(); len(got) != 0 {
					t.Fatalf("the user named in X-User-ID follows %v", got)
				}
			}
		}},
		{"follow_400_self", 400, "cannot_follow_self", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.auth.user()
			return only(h.do(t, put(followPath(a), a)))
		}},
		{"follow_400_invalid_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, put(followPath("not-a-uuid"), h.auth.user())))
		}},
		{"follow_400_uppercase_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, put(followPath(strings.ToUpper(h.auth.user())), h.auth.user())))
		}},
		{"follow_404_unknown_user", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, ghost := h.auth.user(), uuid.NewString()
			rec := h.do(t, put(followPath(ghost), a))
			return rec, func(t *testing.T) {
				if got := h.list(t, "/api/users/"+ghost+"/followers", a).ids(); len(got) != 0 {
					t.Fatalf("a follow of an unknown user was stored: %v", got)
				}
			}
		}},
		{"follow_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "PUT", path: followPath(h.auth.user())}))
		}},
		{"follow_401_forged_user_header", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, target := h.auth.user(), h.auth.user()
			rec := h.do(t, forged("PUT", followPath(target), a))
			return rec, func(t *testing.T) {
				if got := h.list(t, "/api/users/"+target+"/followers", a).ids(); len(got) != 0 {
					t.Fatalf("a forged X-User-ID followed: %v", got)
				}
			}
		}},
		{"follow_401_signature_of_another_user", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, target := h.auth.user(), h.auth.user(), h.auth.user()
			return only(h.do(t, swapped(h, "PUT", followPath(target), a, b)))
		}},

		// DELETE /api/users/{id}/follow
		{"unfollow_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.auth.user(), h.auth.user()
			h.follow(t, a, b)
			rec := h.do(t, del(followPath(b), a))
			return rec, func(t *testing.T) {
				var body followBody
				decode(t, rec, &body)
				if diff := cmp.Diff(followBody{UserID: b, Following: false}, body); diff != "" {
					t.Fatalf("body (-want +got):\n%s", diff)
				}
				created := h.events.wait(t, "follow.created", a, b)
				deleted := h.events.wait(t, "follow.deleted", a, b)
				if deleted.Key != a || !deleted.data.CreatedAt.Equal(created.data.CreatedAt) {
					t.Fatalf("follow.deleted = %+v, want keyed by the follower with the follow's created_at %v", deleted, created.data.CreatedAt)
				}
			}
		}},
		{"unfollow_200_idempotent_no_second_event", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, c := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, a, b)
			mustStatus(t, h.do(t, del(followPath(b), a)), http.StatusOK)
			h.events.wait(t, "follow.deleted", a, b)
			rec := h.do(t, del(followPath(b), a))
			return rec, func(t *testing.T) {
				var body followBody
				decode(t, rec, &body)
				if body.Following || body.FollowersCount != 0 {
					t.Fatalf("body = %+v", body)
				}
				h.follow(t, a, c)
				h.events.wait(t, "follow.created", a, c)
				if n := h.events.count("follow.deleted", a, b); n != 1 {
					t.Fatalf("%d follow.deleted events for one unfollow", n)
				}
			}
		}},
		{"unfollow_200_never_followed_unknown_user", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			calls := h.auth.calls.Load()
			rec := h.do(t, del(followPath(uuid.NewString()), h.auth.user()))
			return rec, func(t *testing.T) {
				if h.auth.calls.Load() != calls {
					t.Fatal("unfollow asked auth whether the user exists")
				}
			}
		}},
		{"unfollow_200_only_the_signed_users_follow", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, target := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, b, target)
			c := del(followPath(target), a)
			c.header = map[string]string{identity.HeaderUserID: b}
			rec := h.do(t, c)
			return rec, func(t *testing.T) {
				if got := h.list(t, "/api/users/"+target+"/followers", a).ids(); !cmp.Equal(got, []string{b}) {
					t.Fatalf("followers of target = %v, want %s's follow untouched", got, b)
				}
			}
		}},
		{"unfollow_400_invalid_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, del(followPath("42"), h.auth.user())))
		}},
		{"unfollow_401_forged_user_header", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, target := h.auth.user(), h.auth.user()
			h.follow(t, a, target)
			rec := h.do(t, forged("DELETE", followPath(target), a))
			return rec, func(t *testing.T) {
				if got := h.list(t, "/api/users/"+target+"/followers", a).ids(); !cmp.Equal(got, []string{a}) {
					t.Fatalf("a forged X-User-ID unfollowed: followers = %v", got)
				}
			}
		}},
		{"unfollow_401_signature_of_another_user", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, target := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, b, target)
			return only(h.do(t, swapped(h, "DELETE", followPath(target), a, b)))
		}},

		// GET /api/users/{id}/followers and /following
		{"followers_200_newest_first_paged", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			star := h.auth.user()
			var fans []string
			for range 5 {
				f := h.auth.user()
				h.follow(t, f, star)
				fans = append([]string{f}, fans...)
			}
			rec := h.do(t, get("/api/users/"+star+"/followers?limit=3", star))
			return rec, func(t *testing.T) {
				var p pageBody
				decode(t, rec, &p)
				if !cmp.Equal(p.ids(), fans[:3]) || p.NextCursor == "" {
					t.Fatalf("first page = %v next=%q, want %v and a cursor", p.ids(), p.NextCursor, fans[:3])
				}
				for _, it := range p.Items {
					if it.FollowedAt.IsZero() || it.FollowedAt.Location() != time.UTC {
						t.Fatalf("followed_at = %v, want a UTC time", it.FollowedAt)
					}
				}
				next := h.list(t, "/api/users/"+star+"/followers?limit=3&cursor="+p.NextCursor, star)
				if !cmp.Equal(next.ids(), fans[3:]) || next.NextCursor != "" {
					t.Fatalf("last page = %v next=%q, want %v and no cursor", next.ids(), next.NextCursor, fans[3:])
				}
				if !strings.Contains(rec.Body.String(), `"followed_at"`) || !strings.Contains(rec.Body.String(), `"next_cursor"`) {
					t.Fatalf("body field names: %s", rec.Body)
				}
			}
		}},
		{"following_200_newest_first", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.auth.user()
			var idols []string
			for range 3 {
				i := h.auth.user()
				h.follow(t, a, i)
				idols = append([]string{i}, idols...)
			}
			rec := h.do(t, get("/api/users/"+a+"/following", h.auth.user()))
			return rec, func(t *testing.T) {
				var p pageBody
				decode(t, rec, &p)
				if !cmp.Equal(p.ids(), idols) || p.NextCursor != "" {
					t.Fatalf("following = %v next=%q, want %v", p.ids(), p.NextCursor, idols)
				}
			}
		}},
		{"followers_200_empty_list_is_an_array", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/api/users/"+uuid.NewString()+"/followers", h.auth.user()))
			return rec, func(t *testing.T) {
				if body := strings.TrimSpace(rec.Body.String()); body != `{"items":[]}` {
					t.Fatalf("body = %s", body)
				}
			}
		}},
		{"followers_200_limit_capped_at_100", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, get("/api/users/"+uuid.NewString()+"/followers?limit=5000", h.auth.user())))
		}},
		{"followers_400_bad_cursor", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/api/users/"+uuid.NewString()+"/followers?cursor=bm9wZQ", h.auth.user()))
			return rec, fieldError(rec, "cursor")
		}},
		{"followers_400_bad_limit", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/api/users/"+uuid.NewString()+"/followers?limit=0", h.auth.user()))
			return rec, fieldError(rec, "limit")
		}},
		{"following_400_invalid_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, get("/api/users/nope/following", h.auth.user())))
		}},
		{"followers_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, forged("GET", "/api/users/"+uuid.NewString()+"/followers", uuid.NewString())))
		}},
		{"following_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/users/" + uuid.NewString() + "/following"}))
		}},

		// GET /api/users/{id}/follow-counts
		{"counts_200_both_directions", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			me, them, other := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, me, them)
			h.follow(t, them, me)
			h.follow(t, other, them)
			h.follow(t, them, other)
			rec := h.do(t, get("/api/users/"+them+"/follow-counts", me))
			return rec, func(t *testing.T) {
				var body relationBody
				decode(t, rec, &body)
				want := relationBody{UserID: them, FollowersCount: 2, FollowingCount: 2, FollowedByMe: true, FollowsMe: true}
				if diff := cmp.Diff(want, body); diff != "" {
					t.Fatalf("body (-want +got):\n%s", diff)
				}
				if rel := relationOf(t, h, h.auth.user(), them); rel.FollowedByMe || rel.FollowsMe || rel.FollowersCount != 2 {
					t.Fatalf("a stranger sees %+v", rel)
				}
				if rel := relationOf(t, h, them, them); rel.FollowedByMe || rel.FollowsMe || rel.FollowingCount != 2 {
					t.Fatalf("oneself sees %+v", rel)
				}
			}
		}},
		{"counts_200_nobody", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			id := uuid.NewString()
			rec := h.do(t, get("/api/users/"+id+"/follow-counts", h.auth.user()))
			return rec, func(t *testing.T) {
				want := `{"user_id":"` + id + `","followers_count":0,"following_count":0,"followed_by_me":false,"follows_me":false}`
				if got := strings.TrimSpace(rec.Body.String()); got != want {
					t.Fatalf("body = %s, want %s", got, want)
				}
			}
		}},
		{"counts_400_invalid_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, get("/api/users/x/follow-counts", h.auth.user())))
		}},
		{"counts_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, forged("GET", "/api/users/"+uuid.NewString()+"/follow-counts", uuid.NewString())))
		}},

		// Internal routes, for the feed.
		{"internal_followers_200_big_pages", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			star := h.auth.user()
			var fans []string
			for range 3 {
				f := h.auth.user()
				h.follow(t, f, star)
				fans = append([]string{f}, fans...)
			}
			rec := h.do(t, get("/internal/users/"+star+"/followers?limit=1000", star))
			return rec, func(t *testing.T) {
				var p pageBody
				decode(t, rec, &p)
				if !cmp.Equal(p.ids(), fans) || p.NextCursor != "" {
					t.Fatalf("followers = %v, want %v", p.ids(), fans)
				}
				two := h.list(t, "/internal/users/"+star+"/followers?limit=2", star)
				rest := h.list(t, "/internal/users/"+star+"/followers?limit=2&cursor="+two.NextCursor, star)
				if got := append(two.ids(), rest.ids()...); !cmp.Equal(got, fans) {
					t.Fatalf("paged = %v, want %v", got, fans)
				}
			}
		}},
		{"internal_following_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.auth.user(), h.auth.user()
			h.follow(t, a, b)
			rec := h.do(t, get("/internal/users/"+a+"/following", a))
			return rec, func(t *testing.T) {
				var p pageBody
				decode(t, rec, &p)
				if !cmp.Equal(p.ids(), []string{b}) {
					t.Fatalf("following = %v", p.ids())
				}
			}
		}},
		{"internal_followers_400_bad_limit", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/internal/users/"+uuid.NewString()+"/followers?limit=lots", h.auth.user()))
			return rec, fieldError(rec, "limit")
		}},
		{"internal_followers_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/users/" + uuid.NewString() + "/followers"}))
		}},
		{"internal_counts_200_batch", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b, c := h.auth.user(), h.auth.user(), h.auth.user()
			h.follow(t, a, b)
			h.follow(t, c, b)
			h.follow(t, b, a)
			nobody := uuid.NewString()
			rec := h.do(t, get("/internal/follow-counts?user_ids="+b+","+a+",%20"+nobody+","+b, a))
			return rec, func(t *testing.T) {
				var body struct {
					Items []struct {
						UserID         string `json:"user_id"`
						FollowersCount int64  `json:"followers_count"`
						FollowingCount int64  `json:"following_count"`
					} `json:"items"`
				}
				decode(t, rec, &body)
				got := make([]string, len(body.Items))
				for i, it := range body.Items {
					got[i] = it.UserID + ":" + strconv.FormatInt(it.FollowersCount, 10) + "/" + strconv.FormatInt(it.FollowingCount, 10)
				}
				want := []string{b + ":2/1", a + ":1/1", nobody + ":0/0"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("counts (-want +got):\n%s", diff)
				}
			}
		}},
		{"internal_counts_400_missing", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/internal/follow-counts", h.auth.user()))
			return rec, fieldError(rec, "user_ids")
		}},
		{"internal_counts_400_malformed", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, get("/internal/follow-counts?user_ids="+uuid.NewString()+",x", h.auth.user()))
			return rec, fieldError(rec, "user_ids")
		}},
		{"internal_counts_400_too_many", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			ids := make([]string, 101)
			for i := range ids {
				ids[i] = uuid.NewString()
			}
			rec := h.do(t, get("/internal/follow-counts?user_ids="+strings.Join(ids, ","), h.auth.user()))
			return rec, fieldError(rec, "user_ids")
		}},
		{"internal_counts_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, forged("GET", "/internal/follow-counts?user_ids="+uuid.NewString(), uuid.NewString())))
		}},

		// The router itself.
		{"unknown_route_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, get("/api/users/"+uuid.NewString()+"/followings", h.auth.user())))
		}},
		{"follow_405_post", 405, "method_not_allowed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "POST", path: followPath(uuid.NewString()), as: h.auth.user()}))
		}},
	}
}

// fieldError checks that a 400 names the field.
func fieldError(rec *httptest.ResponseRecorder, field string) func(t *testing.T) {
	return func(t *testing.T) {
		var eb errorBody
		decode(t, rec, &eb)
		if eb.Error.Fields[field] == "" {
			t.Fatalf("no field error for %s: %s", field, rec.Body)
		}
	}
}

func relationOf(t *testing.T, h *harness, viewer, user string) relationBody {
	t.Helper()
	rec := h.do(t, get("/api/users/"+user+"/follow-counts", viewer))
	mustStatus(t, rec, http.StatusOK)
	var body relationBody
	decode(t, rec, &body)
	return body
}

// TestPagingWhileFollowsArrive walks a follower list page by page while new followers
// keep arriving: every follower there at the start is seen exactly once, in newest
// first order, and nothing is seen twice.
func TestPagingWhileFollowsArrive(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t), nil)
			star := h.auth.user()
			before := map[string]bool{}
			for range 40 {
				f := h.auth.user()
				h.follow(t, f, star)
				before[f] = true
			}
			seen := map[string]bool{}
			var last *struct {
				at time.Time
				id string
			}
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 50 {
					t.Fatal("the list never ended")
				}
				// Newcomers arrive between every two pages.
				for range 3 {
					h.follow(t, h.auth.user(), star)
				}
				path := "/api/users/" + star + "/followers?limit=7"
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				p := h.list(t, path, star)
				for _, it := range p.Items {
					if seen[it.UserID] {
						t.Fatalf("follower %s listed twice", it.UserID)
					}
					seen[it.UserID] = true
					if last != nil && !(it.FollowedAt.Before(last.at) || it.FollowedAt.Equal(last.at) && it.UserID < last.id) {
						t.Fatalf("not newest first: %v/%s after %v/%s", it.FollowedAt, it.UserID, last.at, last.id)
					}
					last = &struct {
						at time.Time
						id string
					}{it.FollowedAt, it.UserID}
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			for f := range before {
				if !seen[f] {
					t.Fatalf("follower %s, there from the start, was never listed", f)
				}
			}
		})
	}
}

// TestConcurrentFollowsOfOneUser follows one user from 50 accounts at once, each twice
// in parallel: the counts and the metric say 50, and each follow has one event.
func TestConcurrentFollowsOfOneUser(t *testing.T) {
	h := newHarness(t, backends()[0].db(t), nil)
	star := h.auth.user()
	fans := make([]string, 50)
	for i := range fans {
		fans[i] = h.auth.user()
	}
	var wg sync.WaitGroup
	for _, f := range fans {
		for range 2 {
			wg.Go(func() {
				if rec := h.do(t, put(followPath(star), f)); rec.Code != http.StatusOK {
					t.Errorf("follow = %d: %s", rec.Code, rec.Body)
				}
			})
		}
	}
	wg.Wait()
	if rel := relationOf(t, h, star, star); rel.FollowersCount != 50 {
		t.Fatalf("followers_count = %d, want 50", rel.FollowersCount)
	}
	if got := gather(t, h)["follows_created_total"]; got != 50 {
		t.Fatalf("follows_created_total = %v, want 50", got)
	}
	marker := h.auth.user()
	for _, f := range fans {
		h.follow(t, f, marker)
	}
	for _, f := range fans {
		h.events.wait(t, "follow.created", f, marker)
		if n := h.events.count("follow.created", f, star); n != 1 {
			t.Fatalf("%d follow.created events for %s", n, f)
		}
	}
}
