package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"instant/platform/config"
)

const secret = "0123456789abcdef0123456789abcdef"

func load(vars map[string]string) (Config, error) {
	return config.Load[Config](func(k string) string { return vars[k] })
}

// with fills in the settings that have no default (a production service must be told
// where its stores and peers are rather than guess a local address), then vars.
func with(vars map[string]string) map[string]string {
	out := map[string]string{"IDENTITY_SECRET": secret, "DATABASE_URL": "sqlite:comments.db",
		"KAFKA_BROKERS": "127.0.0.1:9092", "DISCOVERY_STATIC": "posts=127.0.0.1:8085"}
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
	got := []any{c.HTTPAddr, c.DatabaseURL, c.Brokers, c.EventsTopic, c.ConsumedTopics(), c.DLQTopic,
		c.PostsTimeout, c.PostCacheTTL, c.DiscoveryMode}
	want := []any{":8080", "sqlite:comments.db", []string{"127.0.0.1:9092"}, "comment.events",
		[]string{"post.events", "user.events"}, "comments.dlq", 2 * time.Second, 2 * time.Second, "static"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(with(map[string]string{"KAFKA_BROKERS": " a:9092, b:9092,", "COMMENT_EVENTS_TOPIC": "c.events",
		"POSTS_TIMEOUT": "500ms", "POST_CACHE_TTL": "0s"}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Brokers, c.EventsTopic, c.PostsTimeout, c.PostCacheTTL}
	want := []any{[]string{"a:9092", "b:9092"}, "c.events", 500 * time.Millisecond, time.Duration(0)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("overrides (-want +got):\n%s", diff)
	}
}

func TestInvalid(t *testing.T) {
	tests := map[string]struct {
		vars map[string]string
		want string
	}{
		"no_database":            {map[string]string{"DATABASE_URL": ""}, "DATABASE_URL"},
		"no_brokers":             {map[string]string{"KAFKA_BROKERS": " , "}, "KAFKA_BROKERS"},
		"sasl_without_password":  {map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-comments"}, "KAFKA_SASL_PASSWORD"},
		"unknown_sasl_mechanism": {map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_MECHANISM"},
		"ca_file_without_tls":    {map[string]string{"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"}, "KAFKA_TLS"},
		"short_secret":           {map[string]string{"IDENTITY_SECRET": "short"}, "IDENTITY_SECRET"},
		"no_static_peers":        {map[string]string{"DISCOVERY_STATIC": ""}, "DISCOVERY_STATIC"},
		"bad_mode":               {map[string]string{"DISCOVERY_MODE": "zookeeper"}, "DISCOVERY_MODE"},
		"zero_posts_timeout":     {map[string]string{"POSTS_TIMEOUT": "0s"}, "POSTS_TIMEOUT"},
		"cache_ttl_too_long":     {map[string]string{"POST_CACHE_TTL": "1m"}, "POST_CACHE_TTL"},
		"negative_cache_ttl":     {map[string]string{"POST_CACHE_TTL": "-1s"}, "POST_CACHE_TTL"},
		"dlq_is_post_events":     {map[string]string{"COMMENTS_DLQ_TOPIC": "post.events"}, "COMMENTS_DLQ_TOPIC"},
		"dlq_is_user_events":     {map[string]string{"COMMENTS_DLQ_TOPIC": "user.events"}, "COMMENTS_DLQ_TOPIC"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := load(with(tt.vars)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
