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

// stores are the settings that have no default: a production service must be told where
// its stores are rather than guess a local address.
var stores = map[string]string{"DATABASE_URL": "sqlite:auth.db", "REDIS_URL": "redis://127.0.0.1:6379/0", "KAFKA_BROKERS": "127.0.0.1:9092"}

func with(vars map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range stores {
		out[k] = v
	}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, err := load(with(map[string]string{"IDENTITY_SECRET": secret}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.DatabaseURL, c.RedisURL, c.Brokers, c.EmailTopic, c.UserEventsTopic, c.EmailPublishTimeout,
		c.SessionIdleTimeout, c.SessionLifetime, c.CookieSecure, string(c.CodeKey())}
	want := []any{"sqlite:auth.db", "redis://127.0.0.1:6379/0", []string{"127.0.0.1:9092"}, "email.requests", "user.events",
		5 * time.Second, 336 * time.Hour, 1440 * time.Hour, true, secret}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := load(with(map[string]string{
		"IDENTITY_SECRET": secret, "CODE_SECRET": "code-secret-code-secret-code-secret",
		"KAFKA_BROKERS": " a:9092, b:9092,", "COOKIE_SECURE": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a:9092", "b:9092"}, c.Brokers); diff != "" {
		t.Fatalf("brokers (-want +got):\n%s", diff)
	}
	if string(c.CodeKey()) != "code-secret-code-secret-code-secret" || c.CookieSecure {
		t.Fatalf("config = %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	for _, missing := range []string{"DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS"} {
		t.Run("no_"+missing, func(t *testing.T) {
			vars := with(map[string]string{"IDENTITY_SECRET": secret})
			delete(vars, missing)
			if _, err := load(vars); err == nil {
				t.Fatalf("loaded without %s", missing)
			}
		})
	}
	for name, vars := range map[string]map[string]string{
		"no_identity_secret":     {},
		"short_code_secret":      {"IDENTITY_SECRET": secret, "CODE_SECRET": "short"},
		"no_brokers":             {"IDENTITY_SECRET": secret, "KAFKA_BROKERS": " , "},
		"sasl_without_password":  {"IDENTITY_SECRET": secret, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-auth"},
		"unknown_sasl_mechanism": {"IDENTITY_SECRET": secret, "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"},
		"ca_file_without_tls":    {"IDENTITY_SECRET": secret, "KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"},
		"zero_timeout":           {"IDENTITY_SECRET": secret, "EMAIL_PUBLISH_TIMEOUT": "0s"},
		"bad_duration":           {"IDENTITY_SECRET": secret, "SESSION_LIFETIME": "forever"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(with(vars)); err == nil {
				t.Fatal("loaded an invalid configuration")
			}
		})
	}
}
