package userdb

import (
	"instant/platform/database"
	"instant/platform/events"
)

// outboxVersion numbers the outbox migrations far from auth's own, so either list can
// grow without the two colliding.
const outboxVersion = 1000

// Migrations is the schema of auth's database, applied in version order at start.
//
// Usernames and emails are stored lowercase (the CHECKs hold every writer to it), which
// makes the plain unique indexes case-insensitive and lets lookups use them.
func Migrations() []database.Migration {
	return append([]database.Migration{
		{
			Version: 1,
			Name:    "users",
			Postgres: `CREATE TABLE users (
				id         UUID PRIMARY KEY,
				username   TEXT NOT NULL CHECK (username = lower(username)),
				email      TEXT NOT NULL CHECK (email = lower(email)),
				created_at TIMESTAMPTZ NOT NULL,
				updated_at TIMESTAMPTZ NOT NULL
			);
			CREATE UNIQUE INDEX users_username_key ON users (username);
			CREATE UNIQUE INDEX users_email_key ON users (email);`,
			SQLite: `CREATE TABLE users (
				id         TEXT PRIMARY KEY,
				username   TEXT NOT NULL CHECK (username = lower(username)),
				email      TEXT NOT NULL CHECK (email = lower(email)),
				created_at DATETIME NOT NULL,
				updated_at DATETIME NOT NULL
			);
			CREATE UNIQUE INDEX users_username_key ON users (username);
			CREATE UNIQUE INDEX users_email_key ON users (email);`,
		},
	}, events.OutboxMigrations(outboxVersion)...)
}
