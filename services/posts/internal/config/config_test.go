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
// its stores and peers are rather than guess a local address.
var required = map[string]string{
	"IDENTITY_SECRET": secret, "DATABASE_URL": "sqlite:posts.db", "KAFKA_BROKERS": "127.0.0.1:9092",
	"DISCOVERY_STATIC": "files=127.0.0.1:8084",
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
	got := []any{c.DatabaseURL, c.Brokers, c.PostEventsTopic, c.ConsumedTopics(), c.DLQTopic,
		c.MaxImageBytes, c.FilesTimeout, c.DiscoveryMode, c.DiscoveryStatic}
	want := []any{"sqlite:posts.db", []string{"127.0.0.1:9092"}, "post.events",
		[]string{"user.events", "like.events", "comment.events"}, "posts.dlq",
		int64(10 << 20), 2 * time.Second, "static", "files=127.0.0.1:8084"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(with(map[string]string{
		"KAFKA_BROKERS": " a:9092, b:9092,", "POST_EVENTS_TOPIC": "posts.v2", "MAX_IMAGE_BYTES": "5000",
		"FILES_TIMEOUT": "750ms", "DISCOVERY_MODE": "dns", "DISCOVERY_STATIC": "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Brokers, c.PostEventsTopic, c.MaxImageBytes, c.FilesTimeout, c.DiscoveryMode}
	want := []any{[]string{"a:9092", "b:9092"}, "posts.v2", int64(5000), 750 * time.Millisecond, "dns"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("overrides (-want +got):\n%s", diff)
	}
}

func TestInvalid(t *testing.T) {
	for _, missing := range []string{"IDENTITY_SECRET", "DATABASE_URL", "KAFKA_BROKERS", "DISCOVERY_STATIC"} {
		t.Run("no_"+missing, func(t *testing.T) {
			vars := with(nil)
			delete(vars, missing)
			if _, err := load(vars); err == nil {
				t.Fatalf("loaded without %s", missing)
			}
		})
	}
	for name, vars := range map[string]map[string]string{
		"short_secret":            {"IDENTITY_SECRET": "short"},
		"no_brokers":              {"KAFKA_BROKERS": " , "},
		"sasl_without_password":   {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-posts"},
		"unknown_sasl_mechanism":  {"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"},
		"ca_file_without_tls":     {"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"},
		"zero_image_bytes":        {"MAX_IMAGE_BYTES": "0"},
		"bad_image_bytes":         {"MAX_IMAGE_BYTES": "10MB"},
		"zero_timeout":            {"FILES_TIMEOUT": "0s"},
		"image_max_age_too_short": {"IMAGE_MAX_AGE": "30m"},
		"negative_sweep_interval": {"IMAGE_SWEEP_INTERVAL": "-1h"},
		"bad_mode":                {"DISCOVERY_MODE": "mdns"},
		"dlq_is_source":           {"POSTS_DLQ_TOPIC": "user.events"},
		"dlq_is_likes":            {"POSTS_DLQ_TOPIC": "like.events"},
		"dlq_is_comments":         {"POSTS_DLQ_TOPIC": "comment.events"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(with(vars)); err == nil {
				t.Fatal("loaded an invalid configuration")
			}
		})
	}
}
