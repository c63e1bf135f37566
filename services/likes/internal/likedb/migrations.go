package likedb

import (
	"slices"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
)

// outboxVersion numbers the outbox migrations far from likes' own, so either list can
// grow without the two colliding.
const outboxVersion = 1000

// Migrations is the schema of the likes database, applied in version order at start.
//
// likes' primary key (post_id, user_id) makes a like unique, so a repeated or
// concurrent like inserts nothing; it also answers "does the viewer like these posts".
// like_counts holds each post's count, changed in the transaction that really inserted
// or deleted a like, so reading a count is one primary-key lookup however popular the
// post. likes_post_created serves the likers list, newest first by (created_at desc,
// user_id): rows come out of the index in the order the query asks, so a page reads only
// its own rows and never sorts. likes_user finds an account's likes for the purge that
// follows its deletion; a deleted post's likes are a primary-key range.
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "likes",
			Postgres: `CREATE TABLE likes (
				post_id    UUID NOT NULL,
				user_id    UUID NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (post_id, user_id)
			);
			CREATE INDEX likes_post_created ON likes (post_id, created_at DESC, user_id);
			CREATE TABLE like_counts (
				post_id UUID PRIMARY KEY,
				count   BIGINT NOT NULL CHECK (count >= 0)
			);`,
			SQLite: `CREATE TABLE likes (
				post_id    TEXT NOT NULL,
				user_id    TEXT NOT NULL,
				created_at DATETIME NOT NULL,
				PRIMARY KEY (post_id, user_id)
			);
			CREATE INDEX likes_post_created ON likes (post_id, created_at DESC, user_id);
			CREATE TABLE like_counts (
				post_id TEXT PRIMARY KEY,
				count   INTEGER NOT NULL CHECK (count >= 0)
			);`,
		},
		{
			// An account's likes, found when the account is deleted (user.deleted).
			Version: 2,
			Name:    "likes_user",
			SQL:     `CREATE INDEX likes_user ON likes (user_id, post_id);`,
		},
	}, slices.Concat(events.OutboxMigrations(outboxVersion), tombstone.Migrations(tombstoneVersion))...)
}

// tombstoneVersion numbers the tombstones table (platform/tombstone), away from both.
const tombstoneVersion = 2000
