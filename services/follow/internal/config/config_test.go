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
	"IDENTITY_SECRET": secret, "DATABASE_URL": "sqlite:follow.db", "KAFKA_BROKERS": "127.0.0.1:9092",
	"DISCOVERY_STATIC": "auth=127.0.0.1:8081",
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
	got := []any{c.DatabaseURL, c.Brokers, c.EventsTopic, c.UserEventsTopic, c.DLQTopic, c.AuthTimeout, c.UserCacheTTL, c.DiscoveryMode, c.HTTPAddr}
	want := []any{"sqlite:follow.db", []string{"127.0.0.1:9092"}, "follow.events", "user.events", "follow.dlq",
		2 * time.Second, 30 * time.Second, "static", ":8080"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(with(map[string]string{
		"KAFKA_BROKERS": " a:9092, b:9092,", "FOLLOW_EVENTS_TOPIC": "graph", "AUTH_TIMEOUT": "500ms",
		"USER_CACHE_TTL": "0s", "DISCOVERY_MODE": "dns", "DISCOVERY_STATIC": "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Brokers, c.EventsTopic, c.AuthTimeout, c.UserCacheTTL, c.DiscoveryMode}
	want := []any{[]string{"a:9092", "b:9092"}, "graph", 500 * time.Millisecond, time.Duration(0), "dns"}
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
		"short_secret":           {"IDENTITY_SECRET": "short"},
		"no_brokers":             {"KAFKA_BROKERS": " , "},
		"sasl_without_password":  {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-follow"},
		"unknown_sasl_mechanism": {"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"},
		"ca_file_without_tls":    {"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"},
		"zero_auth_timeout":      {"AUTH_TIMEOUT": "0s"},
		"negative_cache_ttl":     {"USER_CACHE_TTL": "-1s"},
		"bad_duration":           {"AUTH_TIMEOUT": "soon"},
		"bad_discovery_mode":     {"DISCOVERY_MODE": "carrier-pigeon"},
		"blank_topic":            {"FOLLOW_EVENTS_TOPIC": " "},
		"blank_user_topic":       {"USER_EVENTS_TOPIC": " "},
		"blank_dlq":              {"FOLLOW_DLQ_TOPIC": " "},
		"dlq_is_user_events":     {"FOLLOW_DLQ_TOPIC": "user.events"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(with(vars)); err == nil {
				t.Fatal("loaded an invalid configuration")
			}
		})
	}
}
