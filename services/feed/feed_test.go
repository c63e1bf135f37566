package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"instant/services/feed/internal/feed"
	"instant/services/feed/internal/feedredis"
)

// TestFeed walks the feed's behaviour through Kafka events, as the other services
// publish them, on both backends. The subtests share one app and use their own users.
func TestFeed(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			t.Run("fan_out_to_followers_and_own_feed", func(t *testing.T) { testFanOut(t, h) })
			t.Run("backfill_on_follow_unfollow_removes", func(t *testing.T) { testBackfill(t, h) })
			t.Run("post_deletion_leaves_every_feed", func(t *testing.T) { testPostDeletion(t, h) })
			t.Run("user_deletion_removes_everything", func(t *testing.T) { testUserDeletion(t, h) })
			t.Run("celebrity_merged_at_read", func(t *testing.T) { testCelebrity(t, h) })
			t.Run("cursor_paging_while_posting", func(t *testing.T) { testPaging(t, h) })
			t.Run("redelivered_counts_once", func(t *testing.T) { testCountsOnce(t, h) })
			t.Run("profiles_and_explore", func(t *testing.T) { testProfiles(t, h) })
			t.Run("rebuild_after_flushdb", func(t *testing.T) { testRebuild(t, h) })
		})
	}
}

func testFanOut(t *testing.T, h *harness) {
	alice, bob, carol := h.user(t, "alice"), h.user(t, "bob"), h.user(t, "carol")
	h.follow(t, bob, alice)
	h.follow(t, carol, alice)
	h.followersAre(t, alice, 2)
	// Bob's and Carol's timelines exist (built empty) before Alice posts.
	h.feedIs(t, bob)
	h.feedIs(t, carol)
	h.settled(t)
	writes := metric(t, h.proc.Registry, "feed_fanout_writes_total")

	post := h.post(t, alice, "first light")
	for _, viewer := range []string{bob, carol, alice} {
		p := h.feedIs(t, viewer, post)
		it := p.Items[0]
		if it.Author.ID != alice || it.Author.Username != "alice" || it.Caption != "first light" ||
			it.ImageKey != imageKey(alice, post) || it.ImageURL != "/api/files/"+imageKey(alice, post) || it.CreatedAt.IsZero() {
			t.Fatalf("item = %+v", it)
		}
	}
	for _, viewer := range []string{bob, carol, alice} {
		if !h.inTimeline(t, viewer, post) {
			t.Fatalf("the post was not fanned out into %s's Redis timeline", viewer)
		}
	}
	h.settled(t)
	if got := metric(t, h.proc.Registry, "feed_fanout_writes_total") - writes; got != 2 {
		t.Fatalf("fan-out writes = %v, want 2 (one per follower)", got)
	}
	if n := metric(t, h.proc.Registry, "feed_fanout_duration_seconds"); n == 0 {
		t.Fatal("no fan-out duration observed")
	}
	// Someone who follows nobody sees nothing of it.
	stranger := h.user(t, "stranger")
	h.feedIs(t, stranger)
}

func testBackfill(t *testing.T, h *harness) {
	dave, erin := h.user(t, "dave"), h.user(t, "erin")
	d1 := h.post(t, dave, "d1")
	d2 := h.post(t, dave, "d2")
	h.postsAre(t, dave, 2)
	h.feedIs(t, erin) // built, empty

	h.follow(t, erin, dave)
	h.feedIs(t, erin, d2, d1)
	eventually(t, func() string {
		if !h.inTimeline(t, erin, d1) || !h.inTimeline(t, erin, d2) {
			return "dave's posts were not backfilled into erin's Redis timeline"
		}
		return ""
	})

	h.unfollow(t, erin, dave)
	h.feedIs(t, erin)
	eventually(t, func() string {
		if h.inTimeline(t, erin, d1) || h.inTimeline(t, erin, d2) {
			return "dave's posts are still in erin's Redis timeline"
		}
		return ""
	})
	// Dave's own feed keeps them.
	h.feedIs(t, dave, d2, d1)
}

func testPostDeletion(t *testing.T, h *harness) {
	frank, gina, hank := h.user(t, "frank"), h.user(t, "gina"), h.user(t, "hank")
	h.follow(t, gina, frank)
	h.follow(t, hank, frank)
	h.followersAre(t, frank, 2)
	keep := h.post(t, frank, "keep")
	gone := h.post(t, frank, "gone")
	for _, v := range []string{frank, gina, hank} {
		h.feedIs(t, v, gone, keep)
	}
	h.deletePost(t, gone, frank)
	for _, v := range []string{frank, gina, hank} {
		h.feedIs(t, v, keep)
		eventually(t, func() string {
			if h.inTimeline(t, v, gone) {
				return "the deleted post is still in a Redis timeline"
			}
			return ""
		})
	}
	if slices.Contains(ids(h.page(t, gina, "/api/explore?limit=100").Items), gone) {
		t.Fatal("the deleted post is still in explore")
	}
	h.postsAre(t, frank, 1)
}

func testUserDeletion(t *testing.T, h *harness) {
	ivan, judy, kate := h.user(t, "ivan"), h.user(t, "judy"), h.user(t, "kate")
	jpost := h.post(t, judy, "judy's")
	h.follow(t, ivan, judy)
	h.follow(t, kate, ivan)
	h.followersAre(t, judy, 1)
	h.followersAre(t, ivan, 1)
	h.feedIs(t, kate)
	ipost := h.post(t, ivan, "ivan's")
	h.like(t, jpost, ivan)
	h.comment(t, jpost, ivan)
	h.feedIs(t, kate, ipost)
	eventually(t, func() string {
		p := h.feedIs(t, ivan, ipost, jpost)
		if it := p.Items[1]; it.LikeCount != 1 || it.CommentCount != 1 || !it.LikedByMe {
			return fmt.Sprintf("judy's post as ivan sees it = %+v", it)
		}
		return ""
	})
	if !h.inTimeline(t, kate, ipost) {
		t.Fatal("ivan's post was not fanned out to kate")
	}

	h.deleteUser(t, ivan)
	h.feedIs(t, kate)
	for _, path := range []string{"/api/profiles/id/" + ivan, "/api/profiles/ivan"} {
		eventually(t, func() string {
			if _, ok := h.profile(t, kate, path); ok {
				return path + " still answers"
			}
			return ""
		})
	}
	eventually(t, func() string {
		p := h.feedIs(t, judy, jpost)
		if it := p.Items[0]; it.LikeCount != 0 || it.CommentCount != 0 {
			return fmt.Sprintf("judy's post keeps ivan's like or comment: %+v", it)
		}
		return ""
	})
	if p, _ := h.profile(t, judy, "/api/profiles/id/"+judy); p.FollowersCount != 0 {
		t.Fatalf("judy still has %d followers", p.FollowersCount)
	}
	if p, _ := h.profile(t, kate, "/api/profiles/id/"+kate); p.FollowingCount != 0 {
		t.Fatalf("kate still follows %d", p.FollowingCount)
	}
	if slices.Contains(ids(h.page(t, kate, "/api/explore?limit=100").Items), ipost) {
		t.Fatal("the deleted user's post is still in explore")
	}
	eventually(t, func() string {
		if h.inTimeline(t, kate, ipost) {
			return "ivan's post is still in kate's Redis timeline"
		}
		if n := h.rdb.Exists(context.Background(), feedredis.Key(ivan)).Val(); n != 0 {
			return "ivan's own timeline is still in Redis"
		}
		return ""
	})
}

func testCelebrity(t *testing.T, h *harness) {
	star, regular := h.user(t, "star"), h.user(t, "regular")
	fans := []string{h.user(t, "fan1"), h.user(t, "fan2"), h.user(t, "fan3")}
	for _, f := range fans {
		h.follow(t, f, star)
	}
	h.follow(t, fans[0], regular)
	h.followersAre(t, star, 3) // above the threshold of 2
	h.followersAre(t, regular, 1)
	for _, f := range fans {
		h.feedIs(t, f)
	}
	h.settled(t)
	writes := metric(t, h.proc.Registry, "feed_fanout_writes_total")
	r1 := h.post(t, regular, "before")
	s1 := h.post(t, star, "shine")
	r2 := h.post(t, regular, "after")
	h.feedIs(t, fans[0], r2, s1, r1)
	h.feedIs(t, fans[1], s1)
	h.feedIs(t, fans[2], s1)
	h.feedIs(t, star, s1)
	for _, f := range fans {
		if h.inTimeline(t, f, s1) {
			t.Fatal("a celebrity's post was fanned out")
		}
	}
	eventually(t, func() string {
		if !h.inTimeline(t, fans[0], r2) {
			return "the regular author's post was not fanned out"
		}
		return ""
	})
	h.settled(t)
	if got := metric(t, h.proc.Registry, "feed_fanout_writes_total") - writes; got != 2 {
		t.Fatalf("fan-out writes = %v, want 2 (the regular author's two posts, to one follower)", got)
	}

	// A fan leaves: the star is down to the threshold, no longer merged at read time, so
	// the remaining fans' timelines get the post made while it was a celebrity.
	h.unfollow(t, fans[2], star)
	h.followersAre(t, star, 2)
	eventually(t, func() string {
		if !h.inTimeline(t, fans[0], s1) || !h.inTimeline(t, fans[1], s1) {
			return "the demoted star's post did not reach its followers' timelines"
		}
		return ""
	})
	h.feedIs(t, fans[0], r2, s1, r1)
	h.feedIs(t, fans[1], s1)
	h.feedIs(t, fans[2])
}

// testPaging walks a feed in pages while new posts keep arriving between the pages: the
// pages hold exactly the posts that were there when the walk began, newest first, none
// twice and none missed. The feed mixes a regular author (fanned out, more posts than a
// timeline keeps) and a celebrity (merged at read time), with posts sharing milliseconds.
func testPaging(t *testing.T, h *harness) {
	viewer, author, celeb := h.user(t, "pager"), h.user(t, "prolific"), h.user(t, "celeb")
	h.follow(t, viewer, author)
	for _, f := range []string{viewer, h.user(t, "cf1"), h.user(t, "cf2")} {
		h.follow(t, f, celeb)
	}
	h.followersAre(t, celeb, 3)
	h.followersAre(t, author, 1)
	h.feedIs(t, viewer)
	base := time.UnixMilli(h.clock.Add(100)).UTC()
	var posts []feed.Ref
	for i := range 24 {
		who := author
		if i%3 == 2 {
			who = celeb
		}
		// Two posts per millisecond: their order is their ids'.
		at := base.Add(time.Duration(i/2) * time.Millisecond)
		posts = append(posts, feed.Ref{Ms: at.UnixMilli(), ID: h.postAt(t, who, fmt.Sprint(i), at)})
	}
	h.clock.Add(100) // later posts are newer than all of these
	slices.SortFunc(posts, func(a, b feed.Ref) int {
		if a.Newer(b) {
			return 1
		}
		return -1
	})
	var want []string // oldest first
	for _, r := range posts {
		want = append(want, r.ID)
	}
	h.postsAre(t, author, 16)
	h.postsAre(t, celeb, 8)
	var all []itemJSON
	eventually(t, func() string {
		all = h.feed(t, viewer).Items
		if len(all) != 24 {
			return fmt.Sprintf("feed holds %d posts, want 24", len(all))
		}
		return ""
	})
	if !slices.Equal(ids(all), reversed(want)) {
		t.Fatalf("feed order %v, want %v", ids(all), reversed(want))
	}

	var got []string
	path := "/api/feed?limit=5"
	for pages := 0; ; pages++ {
		p := h.page(t, viewer, path)
		got = append(got, ids(p.Items)...)
		if p.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the walk does not end")
		}
		// New posts by both authors land before the next page is read.
		a := h.post(t, author, "new")
		c := h.post(t, celeb, "new")
		eventually(t, func() string {
			top := ids(h.page(t, viewer, "/api/feed?limit=2").Items)
			if !slices.Equal(top, []string{c, a}) {
				return fmt.Sprintf("newest = %v, want %v", top, []string{c, a})
			}
			return ""
		})
		path = "/api/feed?limit=5&cursor=" + p.NextCursor
	}
	if !slices.Equal(got, reversed(want)) {
		t.Fatalf("paged %v\nwant  %v", got, reversed(want))
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// testCountsOnce redelivers a like and a comment (the same envelopes twice, as Kafka does
// after a crash): each counts once. liked_by_me is the viewer's own.
func testCountsOnce(t *testing.T, h *harness) {
	lara, mike, nina := h.user(t, "lara"), h.user(t, "mike"), h.user(t, "nina")
	h.follow(t, mike, lara)
	h.followersAre(t, lara, 1)
	post := h.post(t, lara, "count me")
	h.feedIs(t, mike, post)

	like := h.like(t, post, mike)
	h.send(t, likesTopic, like)
	comment := h.comment(t, post, nina)
	h.send(t, commentsTopic, comment)
	// Events behind the repeats on the same partitions (keyed by the post).
	h.like(t, post, nina)
	h.comment(t, post, mike)
	eventually(t, func() string {
		it := h.feed(t, mike).Items[0]
		if it.LikeCount != 2 || it.CommentCount != 2 || !it.LikedByMe {
			return fmt.Sprintf("as mike: likes %d comments %d liked %v; want 2, 2, true", it.LikeCount, it.CommentCount, it.LikedByMe)
		}
		return ""
	})
	if it := h.feed(t, lara).Items[0]; it.LikeCount != 2 || it.CommentCount != 2 || it.LikedByMe {
		t.Fatalf("as lara: %+v", it)
	}
	h.publish(t, likesTopic, "like.deleted", "likes", post, map[string]any{"post_id": post, "user_id": mike, "created_at": time.Now().UTC()})
	eventually(t, func() string {
		it := h.feed(t, mike).Items[0]
		if it.LikeCount != 1 || it.LikedByMe {
			return fmt.Sprintf("after unlike: %+v", it)
		}
		return ""
	})
}

func testProfiles(t *testing.T, h *harness) {
	olga, pete := h.user(t, "olga"), h.user(t, "pete")
	h.follow(t, pete, olga)
	var posts []string
	for i := range 3 {
		posts = append(posts, h.post(t, olga, fmt.Sprint("o", i)))
	}
	h.postsAre(t, olga, 3)
	h.followersAre(t, olga, 1)

	p, ok := h.profile(t, pete, "/api/profiles/OLGA?limit=2")
	if !ok {
		t.Fatal("olga's profile by name: 404")
	}
	if p.User.ID != olga || p.User.Username != "olga" || p.User.CreatedAt.IsZero() || p.PostCount != 3 ||
		p.FollowersCount != 1 || p.FollowingCount != 0 || !p.FollowedByMe || !slices.Equal(ids(p.Posts), reversed(posts)[:2]) || p.NextCursor == "" {
		t.Fatalf("profile = %+v", p)
	}
	next, _ := h.profile(t, pete, "/api/profiles/id/"+olga+"?limit=2&cursor="+p.NextCursor)
	if !slices.Equal(ids(next.Posts), posts[:1]) || next.NextCursor != "" {
		t.Fatalf("second page = %v, cursor %q", ids(next.Posts), next.NextCursor)
	}
	self, _ := h.profile(t, pete, "/api/profiles/id/"+pete)
	if self.FollowingCount != 1 || self.FollowedByMe || len(self.Posts) != 0 {
		t.Fatalf("pete's own profile = %+v", self)
	}
	if _, ok := h.profile(t, pete, "/api/profiles/nobody-"+uuid.NewString()[:8]); ok {
		t.Fatal("an unknown username was found")
	}

	// Explore: everyone's posts, newest first, in pages.
	quinn := h.user(t, "quinn")
	q := h.post(t, quinn, "new here")
	eventually(t, func() string {
		first := h.page(t, pete, "/api/explore?limit=2")
		if len(first.Items) != 2 || first.Items[0].ID != q || first.Items[1].ID != posts[2] || first.NextCursor == "" {
			return fmt.Sprintf("explore = %v", ids(first.Items))
		}
		second := h.page(t, pete, "/api/explore?limit=2&cursor="+first.NextCursor)
		if len(second.Items) != 2 || second.Items[0].ID != posts[1] {
			return fmt.Sprintf("explore page 2 = %v", ids(second.Items))
		}
		return ""
	})
}

// testRebuild loses every timeline (FLUSHDB): the next reads rebuild them from the read
// model, once; a feed that is empty is marked built and not rebuilt again.
func testRebuild(t *testing.T, h *harness) {
	rita, sam, loner := h.user(t, "rita"), h.user(t, "sam"), h.user(t, "loner")
	h.follow(t, sam, rita)
	h.followersAre(t, rita, 1)
	r1 := h.post(t, rita, "r1")
	s1 := h.post(t, sam, "s1")
	h.feedIs(t, sam, s1, r1)
	if err := h.rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	reg := h.proc.Registry
	rebuilds := metric(t, reg, "feed_timeline_rebuilds_total")
	fromRebuild := metric(t, reg, `feed_reads_total{source="rebuild"}`)
	fromRedis := metric(t, reg, `feed_reads_total{source="redis"}`)

	h.feedIs(t, sam, s1, r1)
	h.feedIs(t, sam, s1, r1)
	if !h.inTimeline(t, sam, r1) || !h.inTimeline(t, sam, s1) {
		t.Fatal("the rebuilt timeline is not in Redis")
	}
	h.feedIs(t, loner)
	h.feedIs(t, loner)
	if got := metric(t, reg, "feed_timeline_rebuilds_total") - rebuilds; got != 2 {
		t.Fatalf("rebuilds = %v, want 2 (sam's and the empty one, each once)", got)
	}
	if got := metric(t, reg, `feed_reads_total{source="rebuild"}`) - fromRebuild; got != 2 {
		t.Fatalf("reads from a rebuild = %v, want 2", got)
	}
	if got := metric(t, reg, `feed_reads_total{source="redis"}`) - fromRedis; got != 2 {
		t.Fatalf("reads from redis = %v, want 2", got)
	}
	mustStatus(t, h.do(t, call{path: "/api/feed", as: sam}), http.StatusOK)
}
