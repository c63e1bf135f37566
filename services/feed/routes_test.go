package main

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"instant/platform/identity"
	"instant/services/feed/internal/feed"
)

// TestRoutes checks every route's statuses through the handler run builds, on both
// backends: who may call, what input is refused, what is not found.
func TestRoutes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			viewer := uuid.NewString()
			known := h.user(t, "known")
			h.postsAre(t, known, 0) // the user event was applied
			forged := map[string]string{identity.HeaderUserID: viewer}
			otherSecret, err := identity.NewSigner("another-secret-0123456789abcdef-xyz")
			if err != nil {
				t.Fatal(err)
			}
			badSignature := map[string]string{identity.HeaderSignature: otherSecret.Sign(viewer), identity.HeaderUserID: viewer}
			cursor := feed.Ref{Ms: 1700000000000, ID: uuid.NewString()}.Encode()
			for _, tc := range []struct {
				name   string
				c      call
				status int
				field  string // the field a 400 names
			}{
				{"feed_200", call{path: "/api/feed", as: viewer}, 200, ""},
				{"feed_200_cursor", call{path: "/api/feed?limit=3&cursor=" + cursor, as: viewer}, 200, ""},
				{"feed_200_limit_capped", call{path: "/api/feed?limit=1000", as: viewer}, 200, ""},
				{"feed_401_anonymous", call{path: "/api/feed"}, 401, ""},
				{"feed_401_forged_user_header", call{path: "/api/feed", header: forged}, 401, ""},
				{"feed_401_bad_signature", call{path: "/api/feed", header: badSignature}, 401, ""},
				{"feed_400_bad_cursor", call{path: "/api/feed?cursor=nope", as: viewer}, 400, "cursor"},
				{"feed_400_cursor_not_ours", call{path: "/api/feed?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("12.x")), as: viewer}, 400, "cursor"},
				{"feed_400_limit_zero", call{path: "/api/feed?limit=0", as: viewer}, 400, "limit"},
				{"feed_400_limit_text", call{path: "/api/feed?limit=ten", as: viewer}, 400, "limit"},
				{"feed_405_post", call{method: "POST", path: "/api/feed", as: viewer}, 405, ""},
				{"explore_200", call{path: "/api/explore", as: viewer}, 200, ""},
				{"explore_401_forged_user_header", call{path: "/api/explore", header: forged}, 401, ""},
				{"explore_400_bad_cursor", call{path: "/api/explore?cursor=%21", as: viewer}, 400, "cursor"},
				{"profile_by_name_200", call{path: "/api/profiles/known", as: viewer}, 200, ""},
				{"profile_by_name_200_any_case", call{path: "/api/profiles/KNOWN", as: viewer}, 200, ""},
				{"profile_by_id_200", call{path: "/api/profiles/id/" + known, as: viewer}, 200, ""},
				{"profile_by_name_404", call{path: "/api/profiles/nobody_here", as: viewer}, 404, ""},
				{"profile_by_id_404", call{path: "/api/profiles/id/" + uuid.NewString(), as: viewer}, 404, ""},
				{"profile_by_id_400_malformed", call{path: "/api/profiles/id/not-a-uuid", as: viewer}, 400, ""},
				{"profile_by_id_400_upper_case", call{path: "/api/profiles/id/" + upper(known), as: viewer}, 400, ""},
				{"profile_400_bad_limit", call{path: "/api/profiles/known?limit=-1", as: viewer}, 400, "limit"},
				{"profile_401_anonymous", call{path: "/api/profiles/known"}, 401, ""},
				{"profile_401_forged_user_header", call{path: "/api/profiles/id/" + known, header: forged}, 401, ""},
				{"unknown_route_404", call{path: "/api/feeds", as: viewer}, 404, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec := h.do(t, tc.c)
					mustStatus(t, rec, tc.status)
					if rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
						t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
					}
					if tc.status >= 400 {
						var eb errorBody
						decode(t, rec, &eb)
						if eb.Error.Code == "" {
							t.Fatalf("error without a code: %s", rec.Body)
						}
						if tc.field != "" && eb.Error.Fields[tc.field] == "" {
							t.Fatalf("400 does not name %q: %s", tc.field, rec.Body)
						}
					}
				})
			}
			t.Run("feed_200_shape_empty", func(t *testing.T) {
				rec := h.do(t, call{path: "/api/feed", as: uuid.NewString()})
				mustStatus(t, rec, http.StatusOK)
				if got := rec.Body.String(); got != "{\"items\":[]}\n" {
					t.Fatalf("empty feed = %q", got)
				}
			})
		})
	}
}

func upper(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c >= 'a' && c <= 'f' {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}
