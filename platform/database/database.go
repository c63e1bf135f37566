// Package database opens a service's own database through gorm: PostgreSQL in production,
// an SQLite file (pure Go, no cgo) as the one-machine stand-in. A service names its
// database with one DSN: "postgres://..." or "sqlite:<path>".
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/utils"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Options tune the connection pool. Zero values take defaults sized for a 2-core pod:
// a new PostgreSQL backend costs tens of milliseconds, so idle connections are kept.
type Options struct {
	MaxOpenConns    int           // default 16
	MaxIdleConns    int           // default = MaxOpenConns
	ConnMaxLifetime time.Duration // default 30m
	SlowQuery       time.Duration // default 200ms; slower queries are logged without their SQL
	Log             *slog.Logger
	// CustomPlans makes PostgreSQL plan every execution of a prepared statement with its
	// actual parameters (plan_cache_mode=force_custom_plan). For a service whose data is
	// skewed — one user follows ten accounts, another ten thousand — the generic plan
	// PostgreSQL switches to after five executions can be right for one and ruinous for
	// the other; planning these small queries costs a fraction of a millisecond.
	CustomPlans bool
}

// Open connects, configures the pool and pings.
func Open(ctx context.Context, dsn string, o Options) (*gorm.DB, error) {
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = 16
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if o.ConnMaxLifetime == 0 {
		o.ConnMaxLifetime = 30 * time.Minute
	}
	if o.SlowQuery == 0 {
		o.SlowQuery = 200 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var dial gorm.Dialector
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if o.CustomPlans {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "plan_cache_mode=force_custom_plan"
		}
		dial = postgres.Open(dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("database: sqlite DSN needs a path")
		}
		// WAL lets readers run beside the writer; busy_timeout makes a writer wait for
		// the lock instead of failing; foreign_keys is off by default in SQLite.
		dial = sqlite.Open(path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)")
		// One connection: SQLite has one writer, and a single connection turns lock
		// contention into queueing in database/sql instead of SQLITE_BUSY errors.
		o.MaxOpenConns, o.MaxIdleConns = 1, 1
	default:
		return nil, errors.New("database: DSN must start with postgres:// or sqlite:")
	}
	db, err := gorm.Open(dial, &gorm.Config{
		Logger:                 gormLogger{log: o.Log, slow: o.SlowQuery},
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("database: open: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	sqlDB.SetMaxOpenConns(o.MaxOpenConns)
	sqlDB.SetMaxIdleConns(o.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("database: ping: %w", err)
	}
	return db, nil
}

// Dialect returns Postgres or SQLite.
func Dialect(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// Ping is a readiness check for the database.
func Ping(db *gorm.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		sqlDB, err := db.DB()
		if err != nil {
			return err
		}
		return sqlDB.PingContext(ctx)
	}
}

// Close closes the pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// IsUniqueViolation reports whether err is a unique-constraint violation on either dialect.
func IsUniqueViolation(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// gormLogger sends gorm's warnings to slog. It never logs SQL text or bound values (they
// can hold emails and codes); a slow query is reported with its call site and duration.
// Query errors are not logged here: the caller handles and logs them once.
type gormLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func (l gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l gormLogger) Info(context.Context, string, ...any)     {}
func (l gormLogger) Warn(ctx context.Context, msg string, _ ...any) {
	l.log.WarnContext(ctx, "database warning", "msg", msg)
}
func (l gormLogger) Error(ctx context.Context, msg string, _ ...any) {
	l.log.ErrorContext(ctx, "database error", "msg", msg)
}
func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), _ error) {
	if d := time.Since(begin); d > l.slow {
		_, rows := fc()
		l.log.WarnContext(ctx, "slow query", "caller", utils.FileWithLineNum(), "duration_ms", d.Milliseconds(), "rows", rows)
	}
}
