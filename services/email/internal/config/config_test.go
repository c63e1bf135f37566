package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"instant/platform/config"
	"instant/platform/service"
	emailconfig "instant/services/email/internal/config"
)

func env(over map[string]string) func(string) string {
	base := map[string]string{
		"IDENTITY_SECRET": strings.Repeat("s", 32),
		"DATABASE_URL":    "sqlite:email.db",
		"KAFKA_BROKERS":   "127.0.0.1:9092, 127.0.0.1:9093",
		"SMTP_HOST":       "smtp.example.com",
		"SMTP_FROM":       "instant <no-reply@instant.example>",
	}
	for k, v := range over {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := config.Load[emailconfig.Config](env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := map[string]any{
		"brokers": cfg.Brokers, "topic": cfg.Topic, "dlq": cfg.DLQTopic,
		"attempts": cfg.MaxAttempts, "backoff": cfg.RetryBackoff, "max_backoff": cfg.RetryMaxBackoff, "retention": cfg.DedupRetention,
		"port": cfg.SMTPPort, "tls": cfg.SMTPTLS, "timeout": cfg.SMTPTimeout,
	}
	want := map[string]any{
		"brokers": []string{"127.0.0.1:9092", "127.0.0.1:9093"}, "topic": "email.requests", "dlq": "email.requests.dlq",
		"attempts": 8, "backoff": 500 * time.Millisecond, "max_backoff": 30 * time.Second, "retention": 720 * time.Hour,
		"port": 587, "tls": "starttls", "timeout": 10 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		over map[string]string
		want string
	}{
		{"no_smtp_host", map[string]string{"SMTP_HOST": ""}, "SMTP_HOST"},
		{"no_smtp_from", map[string]string{"SMTP_FROM": ""}, "SMTP_FROM"},
		{"bad_smtp_from", map[string]string{"SMTP_FROM": "not an address"}, "SMTP_FROM"},
		{"bad_tls_mode", map[string]string{"SMTP_TLS": "ssl"}, "SMTP_TLS"},
		{"bad_port", map[string]string{"SMTP_PORT": "70000"}, "SMTP_PORT"},
		{"password_without_username", map[string]string{"SMTP_PASSWORD": "x"}, "SMTP_USERNAME"},
		{"no_database", map[string]string{"DATABASE_URL": ""}, "DATABASE_URL"},
		{"no_brokers", map[string]string{"KAFKA_BROKERS": ""}, "KAFKA_BROKERS"},
		{"only_commas_in_brokers", map[string]string{"KAFKA_BROKERS": " , "}, "KAFKA_BROKERS"},
		{"sasl_without_password", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-email"}, "KAFKA_SASL_PASSWORD"},
		{"unknown_sasl_mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_MECHANISM"},
		{"password_without_mechanism", map[string]string{"KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_MECHANISM"},
		{"ca_file_without_tls", map[string]string{"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"}, "KAFKA_TLS"},
		{"same_topics", map[string]string{"EMAIL_DLQ_TOPIC": "email.requests"}, "EMAIL_DLQ_TOPIC"},
		{"backoff_above_ceiling", map[string]string{"EMAIL_RETRY_BACKOFF": "1m"}, "EMAIL_RETRY_BACKOFF"},
		{"zero_attempts", map[string]string{"EMAIL_MAX_ATTEMPTS": "0"}, "EMAIL_MAX_ATTEMPTS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load[emailconfig.Config](env(tc.over))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestMaskedHidesPassword(t *testing.T) {
	cfg, err := config.Load[emailconfig.Config](env(map[string]string{"SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, a := range config.Masked(cfg) {
		if strings.Contains(a.(interface{ String() string }).String(), "hunter2") {
			t.Fatalf("masked config shows the password: %v", a)
		}
	}
}

// TestLoadKafkaSettings: KAFKA_BROKERS and the Kafka authentication and TLS settings are
// read as every other service reads them (platform/service.Kafka).
func TestLoadKafkaSettings(t *testing.T) {
	cfg, err := config.Load[emailconfig.Config](env(map[string]string{"KAFKA_BROKERS": " kafka-0:9092, kafka-1:9092,",
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "instant-email", "KAFKA_SASL_PASSWORD": "pw",
		"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := service.Kafka{Brokers: []string{"kafka-0:9092", "kafka-1:9092"}, SASLMechanism: "SCRAM-SHA-512",
		SASLUsername: "instant-email", SASLPassword: "pw", TLS: true, TLSCAFile: "/etc/kafka-ca/ca.crt"}
	if diff := cmp.Diff(want, cfg.Kafka); diff != "" {
		t.Errorf("Kafka settings (-want +got):\n%s", diff)
	}
}
