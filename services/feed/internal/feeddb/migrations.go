package feeddb

import (
	"instant/platform/database"
	"instant/platform/events"
)

// outboxVersion numbers the events migrations far from feed's own. Feed publishes
// nothing, but events.MarkProcessed needs their processed_events table.
const outboxVersion = 1000

// Migrations is the schema of the read model, applied in version order at start.
//
// post_views is the list source. Its order is (created_ms, id) descending — created_at
// in milliseconds, the timelines' score, with the id breaking ties as Redis does — and
// each list reads one index range from its cursor on, no sort: one author's posts
// (post_views_user) and everyone's (post_views_recent). created_at keeps the exact time
// for display.
//
// follows is the graph: the primary key answers "does A follow B" (and A's followees in
// order); follows_followee walks a user's followers in id order for fan-out.
// user_stats keeps each user's counts, changed in the transaction of the edge or post
// that changed them, so a profile never counts rows; its followers index finds the
// celebrities. post_likes and post_comments are the sets the counts are the sizes of, so
// a repeated or late event moves a count only when it changes its set. tombstones stop
// events that arrive after an account's or a post's deletion (they travel on other
// topics, so they can) from bringing it back. timeline_tasks is the queue of Redis
// writes (see feed.Task).
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "read_model",
			Postgres: `CREATE TABLE users (
				id         UUID PRIMARY KEY,
				username   TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				renamed_at TIMESTAMPTZ NOT NULL
			);
			CREATE INDEX users_username ON users (username, renamed_at DESC);
			CREATE TABLE user_stats (
				user_id         UUID PRIMARY KEY,
				post_count      BIGINT NOT NULL DEFAULT 0,
				followers_count BIGINT NOT NULL DEFAULT 0,
				following_count BIGINT NOT NULL DEFAULT 0
			);
			CREATE INDEX user_stats_followers ON user_stats (followers_count);
			CREATE TABLE post_views (
				id            UUID PRIMARY KEY,
				user_id       UUID NOT NULL,
				caption       TEXT NOT NULL,
				image_key     TEXT NOT NULL,
				like_count    BIGINT NOT NULL DEFAULT 0,
				comment_count BIGINT NOT NULL DEFAULT 0,
				created_at    TIMESTAMPTZ NOT NULL,
				created_ms    BIGINT NOT NULL
			);
			CREATE INDEX post_views_user ON post_views (user_id, created_ms DESC, id DESC);
			CREATE INDEX post_views_recent ON post_views (created_ms DESC, id DESC);
			CREATE TABLE follows (
				follower_id UUID NOT NULL,
				followee_id UUID NOT NULL,
				created_at  TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (follower_id, followee_id)
			);
			CREATE INDEX follows_followee ON follows (followee_id, follower_id);
			CREATE TABLE post_likes (
				post_id UUID NOT NULL,
				user_id UUID NOT NULL,
				PRIMARY KEY (post_id, user_id)
			);
			CREATE INDEX post_likes_user ON post_likes (user_id);
			CREATE TABLE post_comments (
				id      UUID PRIMARY KEY,
				post_id UUID NOT NULL,
				user_id UUID NOT NULL
			);
			CREATE INDEX post_comments_post ON post_comments (post_id);
			CREATE INDEX post_comments_user ON post_comments (user_id);
			CREATE TABLE tombstones (
				kind       TEXT NOT NULL,
				id         UUID NOT NULL,
				deleted_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (kind, id)
			);
			CREATE TABLE timeline_tasks (
				seq        BIGSERIAL PRIMARY KEY,
				event_id   TEXT NOT NULL,
				kind       TEXT NOT NULL,
				payload    TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL
			);`,
			SQLite: `CREATE TABLE users (
				id         TEXT PRIMARY KEY,
				username   TEXT NOT NULL,
				created_at DATETIME NOT NULL,
				renamed_at DATETIME NOT NULL
			);
			CREATE INDEX users_username ON users (username, renamed_at DESC);
			CREATE TABLE user_stats (
				user_id         TEXT PRIMARY KEY,
				post_count      INTEGER NOT NULL DEFAULT 0,
				followers_count INTEGER NOT NULL DEFAULT 0,
				following_count INTEGER NOT NULL DEFAULT 0
			);
			CREATE INDEX user_stats_followers ON user_stats (followers_count);
			CREATE TABLE post_views (
				id            TEXT PRIMARY KEY,
				user_id       TEXT NOT NULL,
				caption       TEXT NOT NULL,
				image_key     TEXT NOT NULL,
				like_count    INTEGER NOT NULL DEFAULT 0,
				comment_count INTEGER NOT NULL DEFAULT 0,
				created_at    DATETIME NOT NULL,
				created_ms    INTEGER NOT NULL
			);
			CREATE INDEX post_views_user ON post_views (user_id, created_ms DESC, id DESC);
			CREATE INDEX post_views_recent ON post_views (created_ms DESC, id DESC);
			CREATE TABLE follows (
				follower_id TEXT NOT NULL,
				followee_id TEXT NOT NULL,
				created_at  DATETIME NOT NULL,
				PRIMARY KEY (follower_id, followee_id)
			);
			CREATE INDEX follows_followee ON follows (followee_id, follower_id);
			CREATE TABLE post_likes (
				post_id TEXT NOT NULL,
				user_id TEXT NOT NULL,
				PRIMARY KEY (post_id, user_id)
			);
			CREATE INDEX post_likes_user ON post_likes (user_id);
			CREATE TABLE post_comments (
				id      TEXT PRIMARY KEY,
				post_id TEXT NOT NULL,
				user_id TEXT NOT NULL
			);
			CREATE INDEX post_comments_post ON post_comments (post_id);
			CREATE INDEX post_comments_user ON post_comments (user_id);
			CREATE TABLE tombstones (
				kind       TEXT NOT NULL,
				id         TEXT NOT NULL,
				deleted_at DATETIME NOT NULL,
				PRIMARY KEY (kind, id)
			);
			CREATE TABLE timeline_tasks (
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				event_id   TEXT NOT NULL,
				kind       TEXT NOT NULL,
				payload    TEXT NOT NULL,
				created_at DATETIME NOT NULL
			);`,
		},
	}, events.OutboxMigrations(outboxVersion)...)
}
