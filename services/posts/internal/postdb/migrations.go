package postdb

import (
	"slices"

	"instant/platform/database"
	"instant/platform/events"
	"instant/platform/tombstone"
)

// outboxVersion numbers the outbox migrations far from posts' own, so either list can
// grow without the two colliding.
const outboxVersion = 1000

// Migrations is the schema of the posts database, applied in version order at start.
//
// Every list query has its index, in the order it reads: the newest posts overall
// (posts_created), one author's (posts_user_created) and one hashtag's (post_tags_tag).
// Each list reads an index range in order and stops after a page: no sort, no scan.
// The ids are the tie-breakers of equal timestamps, so keyset cursors are exact.
//
// A post's image is unique: deleting a post deletes its image (files consumes
// post.deleted), which must not take another post's image with it.
//
// hashtags and mentions are kept twice: as JSON arrays on the post, so a read needs one
// row, and as rows in post_tags and post_mentions for tag pages and "mentions of me".
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "posts",
			Postgres: `CREATE TABLE posts (
				id            UUID PRIMARY KEY,
				user_id       UUID NOT NULL,
				username      TEXT NOT NULL DEFAULT '',
				caption       TEXT NOT NULL,
				image_key     TEXT NOT NULL,
				hashtags      TEXT NOT NULL DEFAULT '[]',
				mentions      TEXT NOT NULL DEFAULT '[]',
				like_count    BIGINT NOT NULL DEFAULT 0 CHECK (like_count >= 0),
				comment_count BIGINT NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
				created_at    TIMESTAMPTZ NOT NULL,
				updated_at    TIMESTAMPTZ NOT NULL
			);
			CREATE INDEX posts_created ON posts (created_at DESC, id DESC);
			CREATE INDEX posts_user_created ON posts (user_id, created_at DESC, id DESC);
			CREATE UNIQUE INDEX posts_image_key ON posts (image_key);
			CREATE TABLE post_tags (
				post_id    UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
				tag        TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (post_id, tag)
			);
			CREATE INDEX post_tags_tag ON post_tags (tag, created_at DESC, post_id DESC);
			CREATE TABLE post_mentions (
				post_id    UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
				username   TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (post_id, username)
			);
			CREATE INDEX post_mentions_username ON post_mentions (username, created_at DESC, post_id DESC);`,
			SQLite: `CREATE TABLE posts (
				id            TEXT PRIMARY KEY,
				user_id       TEXT NOT NULL,
				username      TEXT NOT NULL DEFAULT '',
				caption       TEXT NOT NULL,
				image_key     TEXT NOT NULL,
				hashtags      TEXT NOT NULL DEFAULT '[]',
				mentions      TEXT NOT NULL DEFAULT '[]',
				like_count    INTEGER NOT NULL DEFAULT 0 CHECK (like_count >= 0),
				comment_count INTEGER NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
				created_at    DATETIME NOT NULL,
				updated_at    DATETIME NOT NULL
			);
			CREATE INDEX posts_created ON posts (created_at DESC, id DESC);
			CREATE INDEX posts_user_created ON posts (user_id, created_at DESC, id DESC);
			CREATE UNIQUE INDEX posts_image_key ON posts (image_key);
			CREATE TABLE post_tags (
				post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
				tag        TEXT NOT NULL,
				created_at DATETIME NOT NULL,
				PRIMARY KEY (post_id, tag)
			);
			CREATE INDEX post_tags_tag ON post_tags (tag, created_at DESC, post_id DESC);
			CREATE TABLE post_mentions (
				post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
				username   TEXT NOT NULL,
				created_at DATETIME NOT NULL,
				PRIMARY KEY (post_id, username)
			);
			CREATE INDEX post_mentions_username ON post_mentions (username, created_at DESC, post_id DESC);`,
		},
		{
			// Authors' usernames, copied from auth's user.* events: posts answer with
			// the author's name without asking auth on every read.
			Version: 2,
			Name:    "authors",
			Postgres: `CREATE TABLE authors (
				id         UUID PRIMARY KEY,
				username   TEXT NOT NULL,
				updated_at TIMESTAMPTZ NOT NULL
			);`,
			SQLite: `CREATE TABLE authors (
				id         TEXT PRIMARY KEY,
				username   TEXT NOT NULL,
				updated_at DATETIME NOT NULL
			);`,
		},
	}, slices.Concat(events.OutboxMigrations(outboxVersion), tombstone.Migrations(tombstoneVersion))...)
}

// tombstoneVersion numbers the tombstones table (platform/tombstone), away from both.
const tombstoneVersion = 2000
