package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err means the database could not answer now — it is
// unreachable, shutting down, out of resources, or the statement lost a serialisation
// race — as opposed to a bug in the statement. Stores translate it into their core's
// "unavailable" error, which handlers answer with 503 (try later) instead of 500.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var (
		netErr  net.Error
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
		liteErr *sqlite.Error
	)
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr), errors.As(err, &connErr):
		return true
	case errors.As(err, &pgErr):
		// Classes 08 connection exception, 53 insufficient resources, 57 operator
		// intervention (shutdown, recovery), 40 serialisation failure or deadlock.
		if len(pgErr.Code) < 2 {
			return false
		}
		switch pgErr.Code[:2] {
		case "08", "53", "57", "40":
			return true
		}
		return false
	case errors.As(err, &liteErr):
		// SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: the low
		// byte is the primary result code.
		switch liteErr.Code() & 0xff {
		case 5, 6, 10, 13, 14:
			return true
		}
		return false
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
