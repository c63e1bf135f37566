package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"instant/platform/config"
	"instant/platform/events"
	"instant/platform/service"
)

// Services hand events.Conn(cfg.Kafka) to the producers and consumers they build: the
// two types must stay convertible (the same fields in the same order).
var _ = events.Conn(service.Kafka{})

// kafkaConfig is a service config that reads only the Kafka settings.
type kafkaConfig struct {
	service.Kafka
}

func (c *kafkaConfig) Validate() error { return c.ValidateKafka() }

func TestKafkaFromEnv(t *testing.T) {
	const brokers = "kafka-0:9092"
	tests := []struct {
		name    string
		env     map[string]string
		want    events.Conn // when valid
		wantErr string      // what the error names; "" for a valid environment
	}{
		{"plaintext", map[string]string{"KAFKA_BROKERS": " a:9092, b:9092,"}, events.Conn{Brokers: []string{"a:9092", "b:9092"}}, ""},
		{"scram_sha_512", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			"KAFKA_SASL_USERNAME": "instant-posts", "KAFKA_SASL_PASSWORD": "pw"},
			events.Conn{Brokers: []string{brokers}, SASLMechanism: "SCRAM-SHA-512", SASLUsername: "instant-posts", SASLPassword: "pw"}, ""},
		{"scram_sha_256_lower_case", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "scram-sha-256",
			"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"},
			events.Conn{Brokers: []string{brokers}, SASLMechanism: "scram-sha-256", SASLUsername: "u", SASLPassword: "pw"}, ""},
		{"plain_over_tls", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw", "KAFKA_TLS": "true",
			"KAFKA_TLS_CA_FILE": "/etc/kafka-ca/ca.crt", "KAFKA_TLS_SERVER_NAME": "kafka.example.org"},
			events.Conn{Brokers: []string{brokers}, SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "pw",
				TLS: true, TLSCAFile: "/etc/kafka-ca/ca.crt", TLSServerName: "kafka.example.org"}, ""},
		{"no_brokers", map[string]string{"KAFKA_BROKERS": " , "}, events.Conn{}, "KAFKA_BROKERS"},
		{"unknown_mechanism", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "GSSAPI",
			"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw"}, events.Conn{}, "KAFKA_SASL_MECHANISM"},
		{"mechanism_without_password", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			"KAFKA_SASL_USERNAME": "u"}, events.Conn{}, "KAFKA_SASL_PASSWORD"},
		{"mechanism_without_username", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			"KAFKA_SASL_PASSWORD": "pw"}, events.Conn{}, "KAFKA_SASL_USERNAME"},
		{"password_without_mechanism", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_PASSWORD": "pw"}, events.Conn{}, "KAFKA_SASL_MECHANISM"},
		{"ca_file_without_tls", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TLS_CA_FILE": "/ca.crt"}, events.Conn{}, "KAFKA_TLS"},
		{"server_name_without_tls", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TLS_SERVER_NAME": "k"}, events.Conn{}, "KAFKA_TLS"},
		{"tls_not_a_bool", map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TLS": "yes please"}, events.Conn{}, `"TLS"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load[kafkaConfig](func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want an error naming %s", err, tt.wantErr)
				}
				if pw := tt.env["KAFKA_SASL_PASSWORD"]; pw != "" && strings.Contains(err.Error(), "="+pw) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			conn := events.Conn(cfg.Kafka)
			if diff := cmp.Diff(tt.want, conn); diff != "" {
				t.Errorf("conn (-want +got):\n%s", diff)
			}
			if err := conn.Validate(); err != nil {
				t.Errorf("ValidateKafka accepted what events.Conn refuses: %v", err)
			}
		})
	}
}

// TestKafkaValidationAgreesWithEvents: every mechanism, with and without credentials, is
// accepted or refused alike by ValidateKafka and events.Conn.Validate, so a service
// never starts with settings its first producer will refuse.
func TestKafkaValidationAgreesWithEvents(t *testing.T) {
	for _, mech := range []string{"", events.SASLScramSHA512, events.SASLScramSHA256, events.SASLPlain, "scram-sha-512", "GSSAPI", "OAUTHBEARER"} {
		for _, creds := range [][2]string{{"", ""}, {"u", ""}, {"", "pw"}, {"u", "pw"}} {
			for _, tls := range []bool{false, true} {
				k := service.Kafka{Brokers: []string{"k:9092"}, SASLMechanism: mech, SASLUsername: creds[0], SASLPassword: creds[1],
					TLS: tls, TLSCAFile: "/ca.crt"}
				svcErr, evErr := k.ValidateKafka(), events.Conn(k).Validate()
				if (svcErr == nil) != (evErr == nil) {
					t.Errorf("%s: ValidateKafka says %v, events.Conn.Validate %v", fmt.Sprint(events.Conn(k)), svcErr, evErr)
				}
			}
		}
	}
}

// TestKafkaPasswordMasked: the configuration line every service logs at start masks
// the password.
func TestKafkaPasswordMasked(t *testing.T) {
	attrs := fmt.Sprint(config.Masked(kafkaConfig{service.Kafka{Brokers: []string{"k:9092"}, SASLMechanism: "SCRAM-SHA-512",
		SASLUsername: "instant-posts", SASLPassword: "s3cret-pw"}}))
	if strings.Contains(attrs, "s3cret-pw") || !strings.Contains(attrs, "KAFKA_SASL_PASSWORD=***") ||
		!strings.Contains(attrs, "KAFKA_SASL_USERNAME=instant-posts") {
		t.Errorf("logged config %s: want the username and a masked password", attrs)
	}
}
