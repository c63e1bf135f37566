package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestEnvPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"auth", "AUTH"},
		{"email", "EMAIL"},
		{"user-profile", "USER_PROFILE"},
		{"feed.v2", "FEED_V2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := envPrefix(tt.in); got != tt.want {
				t.Errorf("envPrefix(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	dir := filepath.Join(string(filepath.Separator), "data")
	tests := []struct {
		name    string
		service string
		env     map[string]string
		want    string
	}{
		{"sqlite_default", "auth", nil, "sqlite:" + filepath.Join(dir, "auth.db")},
		{"postgres_override", "auth", map[string]string{"AUTH_DATABASE_URL": "postgres://u:p@db:5432/auth"}, "postgres://u:p@db:5432/auth"},
		{"other_service_override_ignored", "email", map[string]string{"AUTH_DATABASE_URL": "postgres://db/auth"}, "sqlite:" + filepath.Join(dir, "email.db")},
		{"dashed_name", "user-profile", map[string]string{"USER_PROFILE_DATABASE_URL": "postgres://db/up"}, "postgres://db/up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := databaseURL(tt.service, dir, envOf(tt.env)); got != tt.want {
				t.Errorf("databaseURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseBrokers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"kafka:9092", []string{"kafka:9092"}},
		{" a:9092, b:9092 ,,", []string{"a:9092", "b:9092"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseBrokers(tt.in)); diff != "" {
				t.Errorf("parseBrokers(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		port     int
		wantFail bool
	}{
		{in: "127.0.0.1:8080", host: "127.0.0.1", port: 8080},
		{in: ":8080", host: "127.0.0.1", port: 8080},
		{in: "0.0.0.0:0", host: "0.0.0.0", port: 0},
		{in: "[::1]:80", host: "::1", port: 80},
		{in: "localhost", wantFail: true},
		{in: "127.0.0.1:http", wantFail: true},
		{in: "127.0.0.1:70000", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, port, err := splitHostPort(tt.in)
			if tt.wantFail {
				if err == nil {
					t.Fatalf("splitHostPort(%q) = %q, %d; want an error", tt.in, host, port)
				}
				return
			}
			if err != nil || host != tt.host || port != tt.port {
				t.Errorf("splitHostPort(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.host, tt.port)
			}
		})
	}
}

func TestDialable(t *testing.T) {
	tests := map[string]string{
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"127.0.0.1:8081": "127.0.0.1:8081",
		"10.0.0.5:80":    "10.0.0.5:80",
	}
	for in, want := range tests {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanFixedPorts(t *testing.T) {
	services := []Service{
		{Name: "auth", Port: 8081},
		{Name: "email", Port: 8083},
		{Name: "posts"}, // no port in the table yet: takes the next one
		{Name: "gateway", Public: true},
	}
	plans, err := planFixedPorts(services, "127.0.0.1", 8080)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, p := range plans {
		got[p.svc.Name] = [2]string{p.httpAddr, p.internalAddr}
	}
	want := map[string][2]string{
		"auth":    {"127.0.0.1:8081", "127.0.0.1:9081"},
		"email":   {"127.0.0.1:8083", "127.0.0.1:9083"},
		"posts":   {"127.0.0.1:8084", "127.0.0.1:9084"},
		"gateway": {"127.0.0.1:8080", "127.0.0.1:9080"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestPlanFixedPorts_clash(t *testing.T) {
	services := []Service{{Name: "auth", Port: 8080}, {Name: "gateway", Public: true}}
	if _, err := planFixedPorts(services, "127.0.0.1", 8080); err == nil || !strings.Contains(err.Error(), "8080") {
		t.Errorf("err = %v, want a clash on 8080", err)
	}
}

func TestDefaultServices_fixedPortsDistinct(t *testing.T) {
	if _, err := planFixedPorts(DefaultServices(), "127.0.0.1", 8080); err != nil {
		t.Fatal(err)
	}
	public := 0
	for _, s := range DefaultServices() {
		if s.Public {
			public++
		}
	}
	if public != 1 {
		t.Errorf("%d public services, want exactly 1 (the gateway)", public)
	}
}

func TestServiceEnv(t *testing.T) {
	plans := []plan{
		{svc: Service{Name: "auth", NeedsDB: true, NeedsRedis: true, NeedsKafka: true}, httpAddr: "127.0.0.1:8081", internalAddr: "127.0.0.1:9081"},
		{svc: Service{Name: "email", NeedsDB: true, NeedsKafka: true, NeedsSMTP: true, Env: map[string]string{"LOG_LEVEL": "debug", "EXTRA": "1"}}, httpAddr: "127.0.0.1:8083", internalAddr: "127.0.0.1:9083"},
		{svc: Service{Name: "files", NeedsKafka: true, NeedsS3: true}, httpAddr: "127.0.0.1:8084", internalAddr: "127.0.0.1:9084"},
		{svc: Service{Name: "gateway", Public: true, NeedsRedis: true}, httpAddr: "0.0.0.0:8080", internalAddr: "127.0.0.1:9080"},
	}
	dataDir := filepath.Join(string(filepath.Separator), "data")
	s3 := map[string]string{"S3_ENDPOINT": "127.0.0.1:9000", "S3_PUBLIC_ENDPOINT": "http://127.0.0.1:9000", "S3_REGION": "us-east-1",
		"S3_BUCKET": "instant-media", "S3_ACCESS_KEY": "instant", "S3_SECRET_KEY": "s3-secret", "S3_USE_TLS": "false"}
	in := infra{
		redisURL:       "redis://127.0.0.1:16379/0",
		brokers:        []string{"127.0.0.1:19092", "127.0.0.1:19093"},
		kafka:          map[string]string{"KAFKA_TLS": "true"},
		smtp:           map[string]string{"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "SMTP_TLS": "none", "SMTP_FROM": defaultSMTPFrom},
		s3:             s3,
		identitySecret: "s3cret",
		logLevel:       "info",
		dataDir:        dataDir,
		getenv:         envOf(map[string]string{"PATH": "/bin", "HOME": "/home/dev", "AWS_SECRET_ACCESS_KEY": "leak"}),
	}
	envMap := func(p plan) map[string]string {
		t.Helper()
		env, err := serviceEnv(p, plans, in, "http://127.0.0.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	base := map[string]string{"LOG_LEVEL": "info", "IDENTITY_SECRET": "s3cret", "COOKIE_SECURE": "false", "PATH": "/bin", "HOME": "/home/dev",
		"DISCOVERY_MODE": "static", "DISCOVERY_STATIC": "auth=127.0.0.1:8081;email=127.0.0.1:8083;files=127.0.0.1:8084"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name string
		plan plan
		want map[string]string
	}{
		{"auth", plans[0], with(map[string]string{
			"HTTP_ADDR": "127.0.0.1:8081", "INTERNAL_ADDR": "127.0.0.1:9081",
			"DATABASE_URL":  "sqlite:" + filepath.Join(dataDir, "auth.db"),
			"REDIS_URL":     "redis://127.0.0.1:16379/0",
			"KAFKA_BROKERS": "127.0.0.1:19092,127.0.0.1:19093",
			"KAFKA_TLS":     "true",
		})},
		{"email_with_extra_env_last", plans[1], with(map[string]string{
			"HTTP_ADDR": "127.0.0.1:8083", "INTERNAL_ADDR": "127.0.0.1:9083",
			"DATABASE_URL":  "sqlite:" + filepath.Join(dataDir, "email.db"),
			"KAFKA_BROKERS": "127.0.0.1:19092,127.0.0.1:19093",
			"KAFKA_TLS":     "true",
			"SMTP_HOST":     "127.0.0.1", "SMTP_PORT": "2525", "SMTP_TLS": "none", "SMTP_FROM": "instant <no-reply@instant.local>",
			"LOG_LEVEL": "debug", "EXTRA": "1",
		})},
		{"files_gets_s3", plans[2], with(map[string]string{
			"HTTP_ADDR": "127.0.0.1:8084", "INTERNAL_ADDR": "127.0.0.1:9084",
			"KAFKA_BROKERS":      "127.0.0.1:19092,127.0.0.1:19093",
			"KAFKA_TLS":          "true",
			"S3_ENDPOINT":        "127.0.0.1:9000",
			"S3_PUBLIC_ENDPOINT": "http://127.0.0.1:9000",
			"S3_REGION":          "us-east-1",
			"S3_BUCKET":          "instant-media",
			"S3_ACCESS_KEY":      "instant",
			"S3_SECRET_KEY":      "s3-secret",
			"S3_USE_TLS":         "false",
		})},
		{"gateway", plans[3], with(map[string]string{
			"HTTP_ADDR": "0.0.0.0:8080", "INTERNAL_ADDR": "127.0.0.1:9080",
			"REDIS_URL":            "redis://127.0.0.1:16379/0",
			"CORS_ALLOWED_ORIGINS": "http://localhost:8080,http://127.0.0.1:8080",
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, envMap(tt.plan)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExternalKafka(t *testing.T) {
	got := externalKafka(envOf(map[string]string{"KAFKA_BROKERS": "kafka:9093", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME": "dev", "KAFKA_SASL_PASSWORD": "p", "KAFKA_TLS": "true", "KAFKA_OTHER": "x"}))
	want := map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "dev", "KAFKA_SASL_PASSWORD": "p", "KAFKA_TLS": "true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestExternalSMTP(t *testing.T) {
	got := externalSMTP(envOf(map[string]string{"SMTP_HOST": "mail.example.com", "SMTP_PORT": "587", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"}))
	want := map[string]string{
		"SMTP_HOST": "mail.example.com", "SMTP_PORT": "587", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p",
		"SMTP_FROM": defaultSMTPFrom,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestIdentitySecret(t *testing.T) {
	dir := t.TempDir()
	first, err := identitySecret(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 64 {
		t.Errorf("secret %q: want 64 hex digits (32 bytes)", first)
	}
	fi, err := os.Stat(filepath.Join(dir, identitySecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && os.PathSeparator == '/' {
		t.Errorf("secret file mode %v, want 0600", perm)
	}
	again, err := identitySecret(dir, envOf(nil))
	if err != nil || again != first {
		t.Errorf("second read = %q, %v; want the stored %q", again, err, first)
	}
	override, err := identitySecret(dir, envOf(map[string]string{"IDENTITY_SECRET": "from-env"}))
	if err != nil || override != "from-env" {
		t.Errorf("with IDENTITY_SECRET = %q, %v; want from-env", override, err)
	}
}
