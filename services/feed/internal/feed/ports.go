package feed

import (
	"context"
	"time"
)

// Mark names one event as applied by one consumer. Every write of the Store takes one and
// applies its event at most once: the mark (events.MarkProcessed) and the change share a
// transaction, so a redelivered event changes nothing.
type Mark struct {
	Consumer string
	EventID  string
}

// TaskKind names a timeline change the read model asked for.
type TaskKind string

// The timeline tasks. Each is queued by the Store in the transaction of the event that
// needs it and run after the commit (see Projector): Redis cannot share the database's
// transaction, so the task table is its outbox. Running a task computes its Redis
// writes from the read model as it is then, so a task that runs late, twice, or after
// the change it was queued for was undone (a post deleted, a follow ended) writes only
// what is still true.
const (
	// TaskFanOut puts PostID into its author's timeline and, below the celebrity
	// threshold, every follower's.
	TaskFanOut TaskKind = "fan_out"
	// TaskUnpost takes PostID out of its author's (UserID) and followers' timelines.
	TaskUnpost TaskKind = "unpost"
	// TaskBackfill copies OtherID's recent posts into UserID's timeline, if UserID
	// still follows OtherID.
	TaskBackfill TaskKind = "backfill"
	// TaskUnfollow takes OtherID's posts out of UserID's timeline, unless UserID follows
	// OtherID again.
	TaskUnfollow TaskKind = "unfollow"
	// TaskPurgeUser drops UserID's timeline and takes their Posts out of their
	// Followers' timelines. Both lists were read in the deletion's transaction: the
	// read model forgets them in the same commit.
	TaskPurgeUser TaskKind = "purge_user"
	// TaskDemote copies UserID's recent posts into their followers' timelines: UserID
	// has just fallen to the celebrity threshold, so the posts they made above it, never
	// fanned out, are no longer merged at read time either.
	TaskDemote TaskKind = "demote"
)

// Task is one queued timeline change.
type Task struct {
	Seq       int64
	EventID   string
	Kind      TaskKind
	PostID    string   `json:",omitempty"`
	UserID    string   `json:",omitempty"`
	OtherID   string   `json:",omitempty"`
	Followers []string `json:",omitempty"`
	Posts     []string `json:",omitempty"`
}

// Store is the read model. Failures of the database are reported wrapped in
// ErrUnavailable.
type Store interface {
	// SaveUser records a user.created or user.updated. A deleted account stays deleted.
	SaveUser(ctx context.Context, m Mark, u User) error
	// DeleteUser forgets an account: its posts (keeping the ids of the newest keepPosts
	// for the purge task), its follows both ways (fixing the other ends' counts), its
	// likes and comments (fixing the posts' counts), and queues TaskPurgeUser, and
	// TaskDemote for each account the deletion brings down to threshold followers. Later
	// events about the account or its posts are ignored.
	DeleteUser(ctx context.Context, m Mark, id string, keepPosts, threshold int) error
	// AddPost stores a post view, its counts taken from the likes and comments already
	// seen, and queues TaskFanOut.
	AddPost(ctx context.Context, m Mark, p Post) error
	// UpdatePost changes a post's caption.
	UpdatePost(ctx context.Context, m Mark, id, caption string) error
	// DeletePost forgets a post with its likes and comments and queues TaskUnpost.
	DeletePost(ctx context.Context, m Mark, id, userID string) error
	// AddFollow records an edge, fixes both counts and queues TaskBackfill.
	AddFollow(ctx context.Context, m Mark, follower, followee string, at time.Time) error
	// RemoveFollow removes an edge, fixes both counts and queues TaskUnfollow, and
	// TaskDemote when the followee is down to threshold followers.
	RemoveFollow(ctx context.Context, m Mark, follower, followee string, threshold int) error
	// AddLike and RemoveLike keep the (post, user) likes set; the post's like_count
	// moves only when the set changes.
	AddLike(ctx context.Context, m Mark, postID, userID string) error
	RemoveLike(ctx context.Context, m Mark, postID, userID string) error
	// AddComment and RemoveComment keep the set of comment ids per post; comment_count
	// moves only when the set changes.
	AddComment(ctx context.Context, m Mark, id, postID, userID string) error
	RemoveComment(ctx context.Context, m Mark, id, postID string) error

	// PendingTasks returns up to limit queued tasks, oldest first; FinishTasks removes
	// those that ran.
	PendingTasks(ctx context.Context, limit int) ([]Task, error)
	FinishTasks(ctx context.Context, seqs []int64) error

	// PostRef finds a post's place and author; found is false for an unknown post.
	PostRef(ctx context.Context, id string) (ref Ref, author string, found bool, err error)
	// FollowerCount is how many follow user.
	FollowerCount(ctx context.Context, user string) (int64, error)
	// Followers returns up to limit follower ids of user, in id order after the id after
	// ("" from the start): fan-out walks them in pages.
	Followers(ctx context.Context, user, after string, limit int) ([]string, error)
	// Follows reports whether follower follows followee.
	Follows(ctx context.Context, follower, followee string) (bool, error)
	// AuthorRefs returns author's newest posts.
	AuthorRefs(ctx context.Context, author string, limit int) ([]Ref, error)
	// AuthoredBy returns those of ids that author wrote.
	AuthoredBy(ctx context.Context, author string, ids []string) ([]string, error)
	// NetworkRefs returns the newest posts of viewer and everyone viewer follows after
	// the cursor: what a timeline is rebuilt from, and where a trimmed one continues.
	NetworkRefs(ctx context.Context, viewer string, after *Ref, limit int) ([]Ref, error)

	// FollowedCelebrities returns whom viewer follows among the users with more than
	// threshold followers.
	FollowedCelebrities(ctx context.Context, viewer string, threshold int) ([]string, error)
	// AuthorsRefs returns the newest posts of authors after the cursor (nil: newest).
	AuthorsRefs(ctx context.Context, authors []string, after *Ref, limit int) ([]Ref, error)
	// Items returns the posts among ids that exist, as viewer sees them, by id.
	Items(ctx context.Context, viewer string, ids []string) (map[string]Item, error)
	// NetworkItems is a page of the home feed read from the read model alone.
	NetworkItems(ctx context.Context, viewer string, after *Ref, limit int) ([]Item, error)
	// AuthorItems is a page of one author's posts.
	AuthorItems(ctx context.Context, viewer, author string, after *Ref, limit int) ([]Item, error)
	// RecentItems is a page of everyone's posts.
	RecentItems(ctx context.Context, viewer string, after *Ref, limit int) ([]Item, error)
	// UserByID and UserByName find an account, or ErrUserNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	UserByName(ctx context.Context, username string) (User, error)
	// Stats returns user's counts and whether viewer follows them.
	Stats(ctx context.Context, viewer, user string) (Stats, error)
}

// TimelinePage is what a timeline read returns.
type TimelinePage struct {
	Refs []Ref
	// Exists is false for a timeline that must be rebuilt.
	Exists bool
	// Full: the timeline holds its cap of posts, so older ones may have been trimmed
	// and continue in the read model.
	Full bool
}

// Timelines are the home timelines: per user, a capped set of post refs, newest first.
// A timeline that does not exist (never built, expired, lost with Redis) is rebuilt from
// the read model on its next read; writes go only into timelines that exist, since a
// missing one will be rebuilt with them anyway. Every write is idempotent.
type Timelines interface {
	// Page returns up to n refs of user's timeline after the cursor (nil: newest).
	// Reading renews the timeline's lifetime.
	Page(ctx context.Context, user string, after *Ref, n int) (TimelinePage, error)
	// Begin creates user's timeline, empty, so that writes arriving while it is being
	// rebuilt land in it. An empty timeline stays marked as built.
	Begin(ctx context.Context, user string) error
	// Add puts refs into each of users' timelines that exists, keeping the newest cap.
	Add(ctx context.Context, users []string, refs []Ref) error
	// Remove takes post ids out of each of users' timelines.
	Remove(ctx context.Context, users []string, ids []string) error
	// Members returns the post ids in user's timeline.
	Members(ctx context.Context, user string) ([]string, error)
	// Drop deletes user's timeline.
	Drop(ctx context.Context, user string) error
}
