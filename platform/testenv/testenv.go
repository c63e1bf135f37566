// Package testenv gives tests real servers: a fresh PostgreSQL database, an isolated
// Redis database, an in-process Kafka cluster, an SQLite file.
//
// A test that needs a server that is not there fails under CI (CI=true), where the build
// machine provides it, and skips with a loud message elsewhere, so a laptop without
// PostgreSQL still runs everything else. Addresses come from TEST_POSTGRES_URL and
// TEST_REDIS_URL, defaulting to the usual local ports.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for admin statements
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
)

// CI reports whether tests run under CI, where every server must be present.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Unavailable fails the test under CI and skips it loudly elsewhere.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is not reachable under CI: %v", what, err)
	}
	t.Skipf("SKIPPED LOUDLY: %s is not reachable (%v); under CI=true this test fails instead", what, err)
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// PostgresURL is the admin DSN tests create their databases through.
func PostgresURL() string {
	return getenv("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// Postgres creates a fresh database, drops it when the test ends, and returns its DSN.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
		return ""
	}
	name := "test_" + randomHex(8)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(PostgresURL())
	u.Path = "/" + name
	return u.String()
}

// SQLite returns a DSN for an SQLite file in the test's temp dir.
func SQLite(t testing.TB) string {
	return "sqlite:" + t.TempDir() + "/test.db"
}

// RedisURL is the server tests use.
func RedisURL() string { return getenv("TEST_REDIS_URL", "redis://127.0.0.1:6379/0") }

// Redis returns the URL of a Redis database index that this test owns until it ends:
// test packages run in parallel, and keys such as rate-limit counters must not collide.
// The index is claimed with SET NX in database 0 and flushed before and after use.
func Redis(t testing.TB) string {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctl := redis.NewClient(opt)
	if err := ctl.Ping(ctx).Err(); err != nil {
		ctl.Close()
		Unavailable(t, "Redis", err)
		return ""
	}
	token := randomHex(8)
	deadline := time.Now().Add(60 * time.Second)
	for {
		for idx := 1; idx < 16; idx++ {
			key := "testenv:db:" + strconv.Itoa(idx)
			ok, err := ctl.SetNX(ctx, key, token, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("claim redis db: %v", err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = idx
			c := redis.NewClient(&o)
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("flush redis db %d: %v", idx, err)
			}
			t.Cleanup(func() {
				bg := context.Background()
				_ = c.FlushDB(bg).Err()
				c.Close()
				if v, _ := ctl.Get(bg, key).Result(); v == token {
					ctl.Del(bg, key)
				}
				ctl.Close()
			})
			u, _ := url.Parse(RedisURL())
			u.Path = "/" + strconv.Itoa(idx)
			return u.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no free Redis test database after 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Kafka starts franz-go's in-process Kafka cluster with the given topics and returns its
// broker addresses; it stops when the test ends.
func Kafka(t testing.TB, topics ...string) []string {
	t.Helper()
	return kafka(t, topics, kfake.AllowAutoTopicCreation())
}

// KafkaSASL starts an in-process Kafka cluster that, like Strimzi's listener with
// authentication on, accepts only clients that sign in with SCRAM-SHA-512 as user with
// password; it has the given topics and stops when the test ends.
func KafkaSASL(t testing.TB, user, password string, topics ...string) []string {
	t.Helper()
	return kafka(t, topics, kfake.EnableSASL(), kfake.User("SCRAM-SHA-512", user, password))
}

func kafka(t testing.TB, topics []string, extra ...kfake.Opt) []string {
	t.Helper()
	opts := append([]kfake.Opt{kfake.NumBrokers(1)}, extra...)
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(3, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Name returns a unique name with the given prefix, for data that must not collide with
// other tests sharing a server (emails, usernames).
func Name(prefix string) string { return fmt.Sprintf("%s%s", prefix, randomHex(5)) }
