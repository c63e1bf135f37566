package commentdb

import (
	"slices"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
)

// outboxVersion numbers the outbox migrations far from comments' own, so either list
// can grow without the two colliding.
const outboxVersion = 1000

// Migrations is the schema of the comments database, applied in version order at start.
//
// comments_post_created serves the one list query, a post's comments oldest first by
// (created_at, id): the equality on post_id and the keyset condition are both index
// conditions, and rows come out in the order the query asks, so a page reads only its
// own rows and never sorts. comments_user finds an account's comments for the purge
// that follows its deletion; the purge of a deleted post reads comments_post_created.
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "comments",
			Postgres: `CREATE TABLE comments (
				id         UUID PRIMARY KEY,
				post_id    UUID NOT NULL,
				user_id    UUID NOT NULL,
				body       TEXT NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2200),
				created_at TIMESTAMPTZ NOT NULL,
				updated_at TIMESTAMPTZ NOT NULL
			);
			CREATE INDEX comments_post_created ON comments (post_id, created_at, id);`,
			SQLite: `CREATE TABLE comments (
				id         TEXT PRIMARY KEY,
				post_id    TEXT NOT NULL,
				user_id    TEXT NOT NULL,
				body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2200),
				created_at DATETIME NOT NULL,
				updated_at DATETIME NOT NULL
			);
			CREATE INDEX comments_post_created ON comments (post_id, created_at, id);`,
		},
		{
			// An account's comments, found when the account is deleted (user.deleted).
			Version: 2,
			Name:    "comments_user",
			SQL:     `CREATE INDEX comments_user ON comments (user_id);`,
		},
	}, slices.Concat(events.OutboxMigrations(outboxVersion), tombstone.Migrations(tombstoneVersion))...)
}

// tombstoneVersion numbers the tombstones table (platform/tombstone), away from both.
const tombstoneVersion = 2000
