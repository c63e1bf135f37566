package main

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lister reads one page of a list route as viewer.
type lister struct {
	h      *harness
	viewer string
	path   string
}

func (l lister) get(t *testing.T, query url.Values) listJSON {
	t.Helper()
	rec := l.h.do(t, call{method: "GET", path: l.path + "?" + query.Encode(), as: l.viewer})
	mustStatus(t, rec, http.StatusOK)
	return data[listJSON](t, rec)
}

// newestFirst is the order every list answers in: posts created later come first.
func newestFirst(ps []postJSON) []string {
	out := ids(ps)
	slices.Reverse(out)
	return out
}

// TestPaging pages through every list in both forms while new posts arrive between
// pages, on PostgreSQL and on SQLite.
func TestPaging(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.db(t))
			author, other := newUser(), newUser()
			var mine, all, tagged []postJSON
			for i := range 25 {
				p := h.createPost(t, author, "#Travel day")
				mine, all, tagged = append(mine, p), append(all, p), append(tagged, p)
				if i%2 == 0 { // another author's posts interleave, half of them tagged
					caption := "elsewhere"
					if i%4 == 0 {
						caption = "#travel too"
					}
					q := h.createPost(t, other, caption)
					all = append(all, q)
					if i%4 == 0 {
						tagged = append(tagged, q)
					}
				}
			}
			// insert adds posts by author (tagged) while a client is between pages.
			// They belong in every list below: all posts, the author's, #travel.
			var inserted []postJSON
			insert := func(n int) {
				for range n {
					inserted = append(inserted, h.createPost(t, author, "new #travel"))
				}
			}
			lists := []struct {
				name  string
				path  string
				posts []postJSON
			}{
				{"all", "/api/posts", all},
				{"user", "/api/posts/users/" + author, mine},
				{"user_new_path", "/api/users/" + author + "/posts", mine},
				{"tag", "/api/tags/Travel/posts", tagged},
			}
			for _, list := range lists {
				l := lister{h: h, viewer: newUser(), path: list.path}

				t.Run(list.name+"/cursor_200_no_duplicates_or_gaps", func(t *testing.T) {
					want := newestFirst(append(slices.Clone(list.posts), inserted...))
					var got []string
					q := url.Values{"limit": {"10"}}
					for pages := 0; ; pages++ {
						if pages > 10 {
							t.Fatal("paging does not end")
						}
						page := l.get(t, q)
						if page.Page != 0 || page.PageSize != 0 {
							t.Fatalf("cursor form answered page fields: %+v", page)
						}
						got = append(got, ids(page.Posts)...)
						if !page.HasMore {
							if page.NextCursor != "" {
								t.Fatal("next_cursor on the last page")
							}
							break
						}
						if len(page.Posts) != 10 || page.NextCursor == "" {
							t.Fatalf("a middle page has %d posts, next_cursor %q", len(page.Posts), page.NextCursor)
						}
						insert(2) // newer than the first page: must not appear further down
						q = url.Values{"limit": {"10"}, "cursor": {page.NextCursor}}
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("paged ids (-want +got):\n%s", diff)
					}
				})

				// The page form is offset paging, the original client's: posts that arrive
				// between pages push older ones down by as many, so the next page repeats
				// that many from the end of the one before (the client drops ids it has
				// seen) and never skips one. Following next_cursor, which the page form
				// also answers, continues exactly.
				t.Run(list.name+"/page_200_shifts_without_gaps", func(t *testing.T) {
					full := l.get(t, url.Values{"limit": {"100"}})
					snapshot := ids(full.Posts)
					if full.HasMore || len(snapshot) < 20 {
						t.Fatalf("the snapshot has %d posts, has_more %v", len(snapshot), full.HasMore)
					}
					first := l.get(t, url.Values{"page": {"1"}, "page_size": {"10"}})
					if first.Page != 1 || first.PageSize != 10 || !first.HasMore || first.NextCursor == "" {
						t.Fatalf("page fields = %+v", first)
					}
					if diff := cmp.Diff(snapshot[:10], ids(first.Posts)); diff != "" {
						t.Fatalf("page 1 (-want +got):\n%s", diff)
					}
					insert(3)
					second := l.get(t, url.Values{"page": {"2"}, "page_size": {"10"}})
					if diff := cmp.Diff(snapshot[7:17], ids(second.Posts)); diff != "" {
						t.Fatalf("page 2 after 3 inserts (-want +got):\n%s", diff)
					}
					cont := l.get(t, url.Values{"cursor": {first.NextCursor}, "limit": {"10"}})
					if diff := cmp.Diff(snapshot[10:20], ids(cont.Posts)); diff != "" {
						t.Fatalf("next_cursor of page 1 (-want +got):\n%s", diff)
					}
				})
			}

			t.Run("page_200_static_pages_cover_all", func(t *testing.T) {
				// Without inserts, page 1, 2, 3 ... hold the list exactly once.
				l := lister{h: h, viewer: newUser(), path: "/api/posts/users/" + other}
				var got []string
				for p := 1; ; p++ {
					page := l.get(t, url.Values{"page": {strconv.Itoa(p)}, "page_size": {"4"}})
					got = append(got, ids(page.Posts)...)
					if !page.HasMore {
						break
					}
				}
				var theirs []postJSON
				for _, p := range all {
					if p.UserID == other {
						theirs = append(theirs, p)
					}
				}
				if diff := cmp.Diff(newestFirst(theirs), got); diff != "" {
					t.Fatalf("pages (-want +got):\n%s", diff)
				}
			})
			t.Run("default_limit_20", func(t *testing.T) {
				page := lister{h: h, viewer: newUser(), path: "/api/posts"}.get(t, url.Values{})
				if len(page.Posts) != 20 || !page.HasMore {
					t.Fatalf("default page has %d posts, has_more %v", len(page.Posts), page.HasMore)
				}
			})
			t.Run("page_size_alias_limit", func(t *testing.T) {
				page := lister{h: h, viewer: newUser(), path: "/api/posts"}.get(t, url.Values{"page": {"2"}, "limit": {"3"}})
				if len(page.Posts) != 3 || page.Page != 2 || page.PageSize != 3 {
					t.Fatalf("page = %d posts, %d/%d", len(page.Posts), page.Page, page.PageSize)
				}
			})
		})
	}
}

// TestTagPages checks tag lookups: case, the '#' prefix, non-Latin tags in any escaping.
func TestTagPages(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/posts.db")
	user := newUser()
	cafe := h.createPost(t, user, "Un #Café à Paris")
	tokyo := h.createPost(t, user, "#東京 #Café")
	h.createPost(t, user, "#cafeteria is another tag")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/tags/caf%C3%A9/posts", []string{tokyo.ID, cafe.ID}},
		{"/api/tags/CAF%c3%89/posts", []string{tokyo.ID, cafe.ID}},
		{"/api/tags/%23caf%C3%A9/posts", []string{tokyo.ID, cafe.ID}},
		{"/api/tags/%E6%9D%B1%E4%BA%AC/posts", []string{tokyo.ID}},
		{"/api/tags/nothing/posts", []string{}},
	} {
		rec := h.do(t, call{method: "GET", path: tc.path, as: newUser()})
		mustStatus(t, rec, http.StatusOK)
		if diff := cmp.Diff(tc.want, ids(data[listJSON](t, rec).Posts)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.path, diff)
		}
	}
}
