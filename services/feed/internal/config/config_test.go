package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"instant/platform/config"
)

const secret = "0123456789abcdef0123456789abcdef"

func load(vars map[string]string) (Config, error) {
	return config.Load[Config](func(k string) string { return vars[k] })
}

// required are the settings without a default: a production service must be told where
// its stores are rather than guess a local address.
var required = map[string]string{
	"IDENTITY_SECRET": secret, "DATABASE_URL": "sqlite:feed.db", "REDIS_URL": "redis://127.0.0.1:6379/0",
	"KAFKA_BROKERS": "127.0.0.1:9092",
}

func with(vars map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range required {
		out[k] = v
	}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, err := load(with(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Topics(), c.DLQTopic, c.TimelineCap, c.CelebrityThreshold, c.Backfill, c.TimelineTTL, c.RedisTimeout, c.Brokers}
	want := []any{[]string{"user.events", "post.events", "follow.events", "like.events", "comment.events"}, "feed.dlq",
		800, 5000, 50, 168 * time.Hour, 500 * time.Millisecond, []string{"127.0.0.1:9092"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(with(map[string]string{
		"KAFKA_BROKERS": " a:9092, b:9092,", "USER_EVENTS_TOPIC": "u", "POST_EVENTS_TOPIC": "p", "FOLLOW_EVENTS_TOPIC": "f",
		"LIKE_EVENTS_TOPIC": "l", "COMMENT_EVENTS_TOPIC": "c", "FEED_DLQ_TOPIC": "d", "FEED_TIMELINE_CAP": "10",
		"FEED_CELEBRITY_THRESHOLD": "2", "FEED_BACKFILL": "0", "FEED_TIMELINE_TTL": "1h", "REDIS_TIMEOUT": "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Brokers, c.Topics(), c.DLQTopic, c.TimelineCap, c.CelebrityThreshold, c.Backfill, c.TimelineTTL, c.RedisTimeout}
	want := []any{[]string{"a:9092", "b:9092"}, []string{"u", "p", "f", "l", "c"}, "d", 10, 2, 0, time.Hour, 2 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("overrides (-want +got):\n%s", diff)
	}
}

func TestInvalid(t *testing.T) {
	for _, missing := range []string{"IDENTITY_SECRET", "DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS"} {
		t.Run("no_"+missing, func(t *testing.T) {
			vars := with(nil)
			delete(vars, missing)
			if _, err := load(vars); err == nil {
				t.Fatalf("loaded without %s", missing)
			}
		})
	}
	for name, vars := range map[string]map[string]string{
		"short_secret":           {"IDENTITY_SECRET": "short"},
		"no_brokers":             {"KAFKA_BROKERS": " , "},
		"sasl_without_password":  {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-feed"},
		"unknown_sasl_mechanism": {"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"},
		"ca_file_without_tls":    {"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"},
		"blank_topic":            {"POST_EVENTS_TOPIC": " "},
		"dlq_is_consumed":        {"FEED_DLQ_TOPIC": "like.events"},
		"zero_cap":               {"FEED_TIMELINE_CAP": "0"},
		"zero_threshold":         {"FEED_CELEBRITY_THRESHOLD": "0"},
		"negative_backfill":      {"FEED_BACKFILL": "-1"},
		"zero_ttl":               {"FEED_TIMELINE_TTL": "0s"},
		"zero_redis_timeout":     {"REDIS_TIMEOUT": "0s"},
		"bad_number":             {"FEED_TIMELINE_CAP": "many"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(with(vars)); err == nil {
				t.Fatal("loaded an invalid configuration")
			}
		})
	}
}
