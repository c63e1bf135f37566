package stack

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// infra is what the stand-ins (or the real servers replacing them) offer the services.
type infra struct {
	redisURL       string
	brokers        []string
	kafka          map[string]string // KAFKA_SASL_*, KAFKA_TLS* for a real cluster
	smtp           map[string]string // SMTP_* variables for services that send mail
	s3             map[string]string // S3_* variables for services that keep objects
	identitySecret string
	logLevel       string
	dataDir        string
	getenv         func(string) string
}

// serviceEnv is the environment contract of one service: the same variable names the
// charts set in the cluster. Service.Env comes last and wins.
func serviceEnv(p plan, all []plan, in infra, gatewayURL string) ([]string, error) {
	env := map[string]string{
		"HTTP_ADDR":       p.httpAddr,
		"INTERNAL_ADDR":   p.internalAddr,
		"LOG_LEVEL":       in.logLevel,
		"IDENTITY_SECRET": in.identitySecret,
		// Every service gets it, not only the gateway: whichever service sets the
		// session cookie must not mark it Secure while the stack speaks plain HTTP.
		"COOKIE_SECURE": "false",
	}
	// A child inherits only these from the parent. Its environment is otherwise built
	// from nothing, so a variable left over in a developer's shell cannot change a
	// service behind the stack's back. GOCOVERDIR lets binaries built with -cover report
	// coverage from an end-to-end run.
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOCOVERDIR"} {
		if v := in.getenv(k); v != "" {
			env[k] = v
		}
	}
	svc := p.svc
	if svc.NeedsDB {
		env["DATABASE_URL"] = databaseURL(svc.Name, in.dataDir, in.getenv)
	}
	if svc.NeedsRedis {
		env["REDIS_URL"] = in.redisURL
	}
	if svc.NeedsKafka {
		env["KAFKA_BROKERS"] = strings.Join(in.brokers, ",")
		maps.Copy(env, in.kafka)
	}
	if svc.NeedsSMTP {
		maps.Copy(env, in.smtp)
	}
	if svc.NeedsS3 {
		maps.Copy(env, in.s3)
	}
	// Every service gets the discovery table: the gateway routes with it, and services
	// use it for the few internal calls they make to each other.
	env["DISCOVERY_MODE"] = "static"
	env["DISCOVERY_STATIC"] = discoveryStatic(all)
	if svc.Public {
		env["CORS_ALLOWED_ORIGINS"] = corsOrigins(gatewayURL, in.getenv)
	}
	for k, v := range svc.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("stack: service %s: bad env name %q", svc.Name, k)
		}
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// discoveryStatic is the gateway's static discovery table, "name=host:port;...", listing
// every service except the public one, in start order.
func discoveryStatic(all []plan) string {
	var parts []string
	for _, p := range all {
		if p.svc.Public {
			continue
		}
		parts = append(parts, p.svc.Name+"="+dialable(p.httpAddr))
	}
	return strings.Join(parts, ";")
}

// corsOrigins allows the gateway's own origin under both names a browser may use for it
// (the banner prints 127.0.0.1, people type localhost). CORS_ALLOWED_ORIGINS in the
// parent's environment replaces it, e.g. for a frontend dev server on another port.
func corsOrigins(gatewayURL string, getenv func(string) string) string {
	if v := getenv("CORS_ALLOWED_ORIGINS"); v != "" {
		return v
	}
	port := gatewayURL[strings.LastIndexByte(gatewayURL, ':')+1:]
	return "http://localhost:" + port + ",http://127.0.0.1:" + port
}

// databaseURL is a service's DATABASE_URL: <NAME>_DATABASE_URL from the environment when
// set (a postgres:// DSN, usually), else a SQLite file of its own in the data directory —
// a database per service either way.
func databaseURL(service, dataDir string, getenv func(string) string) string {
	if v := getenv(envPrefix(service) + "_DATABASE_URL"); v != "" {
		return v
	}
	return "sqlite:" + filepath.Join(dataDir, service+".db")
}

// envPrefix turns a service name into the prefix of its variables: "auth" → "AUTH",
// "user-profile" → "USER_PROFILE".
func envPrefix(service string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(service) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// parseBrokers splits a KAFKA_BROKERS list ("a:9092, b:9092,") into its addresses.
func parseBrokers(s string) []string {
	var out []string
	for b := range strings.SplitSeq(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// externalSMTP is the SMTP_* environment handed through to the services when SMTP_HOST
// names a real server. Unset values stay unset so each service keeps its own default.
func externalSMTP(getenv func(string) string) map[string]string {
	env := map[string]string{"SMTP_FROM": defaultSMTPFrom}
	for _, k := range []string{"SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM"} {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	return env
}

// externalKafka is the Kafka sign-in and TLS environment handed through to the services
// when KAFKA_BROKERS names a real cluster; the embedded one needs none. Unset values
// stay unset.
func externalKafka(getenv func(string) string) map[string]string {
	env := map[string]string{}
	for _, k := range []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
		"KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_TLS_SERVER_NAME"} {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	return env
}

// defaultSMTPFrom is the sender every mail of the product carries unless SMTP_FROM says
// otherwise.
const defaultSMTPFrom = "instant <no-reply@instant.local>"
