package followdb

import (
	"slices"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
)

// outboxVersion numbers the outbox migrations far from follow's own, so either list can
// grow without the two colliding.
const outboxVersion = 1000

// Migrations is the schema of follow's database, applied in version order at start.
//
// follows is the graph: its primary key makes a follow unique (and is the lookup for "do
// I follow them"); each list has an index in its own order, (user, created_at, other
// user) descending, so a page is one index range read from its cursor on, with no sort.
// The ids of the other user are in the index too, which makes the list scans index-only.
//
// follow_counts holds each user's totals, kept in the transaction of every change that
// really happened, so reading a profile's counts never counts rows. The CHECKs hold the
// invariants the store relies on: nobody follows themselves, no count goes negative.
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "follows",
			Postgres: `CREATE TABLE follows (
				follower_id UUID NOT NULL,
				followee_id UUID NOT NULL,
				created_at  TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (follower_id, followee_id),
				CHECK (follower_id <> followee_id)
			);
			CREATE INDEX follows_followers ON follows (followee_id, created_at DESC, follower_id DESC);
			CREATE INDEX follows_following ON follows (follower_id, created_at DESC, followee_id DESC);
			CREATE TABLE follow_counts (
				user_id   UUID PRIMARY KEY,
				followers BIGINT NOT NULL DEFAULT 0 CHECK (followers >= 0),
				following BIGINT NOT NULL DEFAULT 0 CHECK (following >= 0)
			);`,
			SQLite: `CREATE TABLE follows (
				follower_id TEXT NOT NULL,
				followee_id TEXT NOT NULL,
				created_at  DATETIME NOT NULL,
				PRIMARY KEY (follower_id, followee_id),
				CHECK (follower_id <> followee_id)
			) WITHOUT ROWID;
			CREATE INDEX follows_followers ON follows (followee_id, created_at DESC, follower_id DESC);
			CREATE INDEX follows_following ON follows (follower_id, created_at DESC, followee_id DESC);
			CREATE TABLE follow_counts (
				user_id   TEXT PRIMARY KEY,
				followers INTEGER NOT NULL DEFAULT 0 CHECK (followers >= 0),
				following INTEGER NOT NULL DEFAULT 0 CHECK (following >= 0)
			) WITHOUT ROWID;`,
		},
	}, slices.Concat(events.OutboxMigrations(outboxVersion), tombstone.Migrations(tombstoneVersion))...)
}

// tombstoneVersion numbers the tombstones table (platform/tombstone), away from both.
const tombstoneVersion = 2000
