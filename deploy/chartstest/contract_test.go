package chartstest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// runtimeEnv are variables the chart sets for the Go runtime, not for the config.
var runtimeEnv = map[string]bool{"GOMAXPROCS": true, "GOMEMLIMIT": true}

// kafkaCredentialEnv are the variables a service signs in to Kafka with. With
// global.kafka.authentication the chart sets them on the Deployment only: the migration
// Job does not talk to Kafka, and runs (pre-install) before its KafkaUser's Secret exists.
var kafkaCredentialEnv = map[string]bool{"KAFKA_SASL_MECHANISM": true, "KAFKA_SASL_USERNAME": true, "KAFKA_SASL_PASSWORD": true}

// secretLike are variables whose value is a credential or embeds one: they must come
// from a Secret, whatever the config's secret tag says.
var secretLike = regexp.MustCompile(`^(DATABASE_URL|REDIS_URL|.*_(PASSWORD|SECRET|TOKEN|KEY))$`)

// mustAgree are variables that several services read and that must hold the same value
// in each (sessions are written by auth and renewed by the gateway; one topic has one
// name).
var mustAgree = []string{"SESSION_IDLE_TIMEOUT", "EMAIL_TOPIC", "USER_EVENTS_TOPIC", "POST_EVENTS_TOPIC",
	"LIKE_EVENTS_TOPIC", "COMMENT_EVENTS_TOPIC", "FOLLOW_EVENTS_TOPIC", "KAFKA_BROKERS", "KAFKA_SASL_MECHANISM", "KAFKA_TLS",
	"REDIS_URL", "IDENTITY_SECRET"}

// setting is how a rendered container sets a variable.
type setting struct {
	Value  string // a plain value
	Secret string // "secret/key" for a secretKeyRef
	Other  bool   // another valueFrom (downward API)
}

func (s setting) String() string {
	if s.Secret != "" {
		return "secret " + s.Secret
	}
	return strconv.Quote(s.Value)
}

func containerEnv(t testing.TB, w workload, c corev1.Container) map[string]setting {
	t.Helper()
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom hides which variables are set from the chart checks; list them in env/secretEnv", w.Object)
	}
	m := map[string]setting{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			m[e.Name] = setting{Value: e.Value}
		case e.ValueFrom.SecretKeyRef != nil:
			m[e.Name] = setting{Secret: e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key}
		default:
			m[e.Name] = setting{Other: true}
		}
	}
	return m
}

// localDefault reports whether a code default only makes sense on one machine.
func localDefault(v EnvVar) bool {
	d := v.Default
	return strings.Contains(d, "127.0.0.1") || strings.Contains(d, "localhost") || strings.HasPrefix(d, "sqlite:")
}

// TestEveryEnvVarAServiceNeedsIsSet compares each rendered service container with the
// service's config struct (go/ast over services/<name>/internal/config and
// platform/service.Base): every required variable is set, every variable whose default
// points at this machine is overridden, every variable the chart sets is one the
// service reads, credentials come from Secrets, shared settings agree, and the
// migration Job sees what the service sees.
func TestEveryEnvVarAServiceNeedsIsSet(t *testing.T) {
	reads := map[string]map[string]EnvVar{}
	for _, s := range chartedServices(t) {
		reads[s] = serviceEnv(t, s)
	}
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			effective := map[string]map[string]setting{} // service → var → setting, code defaults included
			jobs := map[string]map[string]setting{}
			for _, w := range workloads(t, r) {
				if w.Kind == "Job" && w.Meta.Labels["app.kubernetes.io/component"] == "migration" {
					svc := w.Meta.Labels["app.kubernetes.io/name"]
					jobs[svc] = containerEnv(t, w, w.Spec.Containers[0])
					continue
				}
				svc, ok := appService(w)
				if !ok {
					continue
				}
				cfg, ok := reads[svc]
				if !ok {
					t.Errorf("%s: no services/%s/internal/config to check against", w.Object, svc)
					continue
				}
				env := containerEnv(t, w, w.Spec.Containers[0])
				bad := func(format string, args ...any) { t.Errorf("%s: %s", svc, fmt.Sprintf(format, args...)) }
				for name, v := range cfg {
					s, set := env[name]
					if set && s.Secret == "" && !s.Other && s.Value == "" {
						set = false
					}
					switch {
					case v.Required && !set:
						bad("%s is required by %s and not set", name, v.Field)
					case !set && !v.HasDefault && neededWithoutDefault(name, env):
						bad("%s has no default and the service needs it in this configuration", name)
					case !set && localDefault(v):
						bad("%s is not set, and its default %q only works on one machine", name, v.Default)
					}
					if set && (v.Secret || secretLike.MatchString(name)) && s.Secret == "" {
						bad("%s is a credential: it must come from a Secret, not %s", name, s)
					}
				}
				for name := range env {
					if _, ok := cfg[name]; !ok && !runtimeEnv[name] {
						bad("sets %s, which %s's config does not read (misspelt, or the code changed)", name, svc)
					}
				}
				eff := map[string]setting{}
				for name, v := range cfg {
					if v.HasDefault {
						eff[name] = setting{Value: v.Default}
					}
				}
				for name, s := range env {
					eff[name] = s
				}
				effective[svc] = eff
			}
			for svc, jenv := range jobs {
				for _, w := range workloads(t, r) {
					if name, ok := appService(w); ok && name == svc {
						denv := containerEnv(t, w, w.Spec.Containers[0])
						for k, v := range denv {
							if runtimeEnv[k] || kafkaCredentialEnv[k] {
								continue
							}
							if jenv[k] != v {
								t.Errorf("%s: the migration Job sets %s=%s, the Deployment %s", svc, k, jenv[k], v)
							}
						}
					}
				}
			}
			for _, name := range mustAgree {
				var vals []string
				for svc, eff := range effective {
					if s, ok := eff[name]; ok {
						vals = append(vals, svc+"="+s.String())
					}
				}
				sort.Strings(vals)
				distinct := map[string]bool{}
				for _, v := range vals {
					distinct[v[strings.Index(v, "=")+1:]] = true
				}
				if len(distinct) > 1 {
					t.Errorf("%s differs between services: %s", name, strings.Join(vals, ", "))
				}
			}
		})
	}
}

// neededWithoutDefault lists the variables without a default that a service needs
// only in some configurations (platform/service's Validate methods know; this mirrors
// them).
func neededWithoutDefault(name string, env map[string]setting) bool {
	switch {
	case name == "DISCOVERY_STATIC":
		return env["DISCOVERY_MODE"].Value == "static" || env["DISCOVERY_MODE"].Value == ""
	case name == "CONSUL_HTTP_ADDR":
		return env["CONSUL_REGISTER"].Value == "true" || env["DISCOVERY_MODE"].Value == "consul"
	case name == "SERVICE_ADDRESS":
		return env["CONSUL_REGISTER"].Value == "true"
	case name == "KAFKA_SASL_USERNAME" || name == "KAFKA_SASL_PASSWORD":
		_, set := env["KAFKA_SASL_MECHANISM"]
		return set
	}
	return false
}

// topicsOf lists the topics a service uses: every *_TOPIC variable it reads, with the
// chart's value or the code's default.
func topicsOf(eff map[string]setting) []string {
	var out []string
	for name, s := range eff {
		if strings.HasSuffix(name, "_TOPIC") && s.Value != "" {
			out = append(out, s.Value)
		}
	}
	sort.Strings(out)
	return out
}

// contractTable returns the rows (cells trimmed) of the first table after the heading
// in docs/contracts.md.
func contractTable(t testing.TB, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "contracts.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/contracts.md has no %q section", heading)
	}
	var rows [][]string
	started := false
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("docs/contracts.md %q: no table", heading)
	}
	return rows[1:] // without the header
}

// contractTopics are the topics of the table in docs/contracts.md.
func contractTopics(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, row := range contractTable(t, "## Kafka topics") {
		out = append(out, strings.Trim(row[0], "`"))
	}
	return out
}

// internalCallers are the service → service calls of docs/contracts.md's "Internal
// routes" table: callee → callers. Intentions must allow exactly these (plus the
// gateway's routing) between the services a release deploys.
func internalCallers(t testing.TB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, row := range contractTable(t, "## Internal routes (service → service)") {
		if len(row) < 3 {
			t.Fatalf("docs/contracts.md internal routes: short row %v", row)
		}
		callee := strings.Fields(row[1])[0]
		for _, c := range strings.Split(row[2], ",") {
			out[callee] = append(out[callee], strings.TrimSpace(c))
		}
	}
	return out
}

// TestEveryTopicExists: each topic a rendered service reads or writes, each topic of
// docs/contracts.md and each topic a KafkaUser's ACLs name exists as a KafkaTopic, and
// the email service remembers sent ids longer than the request topic keeps records.
func TestEveryTopicExists(t *testing.T) {
	reads := map[string]map[string]EnvVar{}
	for _, s := range chartedServices(t) {
		reads[s] = serviceEnv(t, s)
	}
	contract := contractTopics(t)
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			topics := map[string]map[string]any{} // topicName → spec
			for _, o := range r.byKind("KafkaTopic") {
				spec := o.Map["spec"].(map[string]any)
				topics[spec["topicName"].(string)] = spec
			}
			if len(topics) == 0 {
				t.Fatal("no KafkaTopic rendered")
			}
			for _, name := range contract {
				if topics[name] == nil {
					t.Errorf("docs/contracts.md lists topic %s; no KafkaTopic creates it", name)
				}
			}
			for _, w := range workloads(t, r) {
				svc, ok := appService(w)
				if !ok {
					continue
				}
				eff := map[string]setting{}
				for name, v := range reads[svc] {
					if v.HasDefault {
						eff[name] = setting{Value: v.Default}
					}
				}
				for k, v := range containerEnv(t, w, w.Spec.Containers[0]) {
					eff[k] = v
				}
				for _, topic := range topicsOf(eff) {
					if topics[topic] == nil {
						t.Errorf("%s uses topic %s; no KafkaTopic creates it (kafka.topics)", svc, topic)
					}
				}
				if svc == "email" {
					keep, err := time.ParseDuration(eff["EMAIL_DEDUP_RETENTION"].Value)
					if err != nil {
						t.Errorf("email: EMAIL_DEDUP_RETENTION: %v", err)
						continue
					}
					spec := topics[eff["EMAIL_TOPIC"].Value]
					if spec == nil {
						continue
					}
					ms, _ := spec["config"].(map[string]any)["retention.ms"].(int64)
					if ms < 0 || time.Duration(ms)*time.Millisecond >= keep {
						t.Errorf("email remembers sent ids for %s, but %s keeps records %dms: a late redelivery would send twice", keep, eff["EMAIL_TOPIC"].Value, ms)
					}
				}
			}
			for _, o := range r.byKind("KafkaUser") {
				acls := o.Map["spec"].(map[string]any)["authorization"].(map[string]any)["acls"].([]any)
				for _, a := range acls {
					res := a.(map[string]any)["resource"].(map[string]any)
					if res["type"] == "topic" && topics[res["name"].(string)] == nil {
						t.Errorf("%s: ACL on topic %s, which no KafkaTopic creates", o, res["name"])
					}
				}
			}
		})
	}
}

// TestKafkaUsersCoverWhatServicesUse: with authentication on, each service that uses
// Kafka has a KafkaUser whose ACLs cover its topics (the chart's values and the code's
// defaults), and a user that reads a topic (a consumer) may use a consumer group.
func TestKafkaUsersCoverWhatServicesUse(t *testing.T) {
	reads := map[string]map[string]EnvVar{}
	for _, s := range chartedServices(t) {
		reads[s] = serviceEnv(t, s)
	}
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella || r.value("global.kafka.authentication.enabled", false) != true {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			users := map[string][]string{} // service → topics in its ACLs
			for _, o := range r.byKind("KafkaUser") {
				svc := o.Map["metadata"].(map[string]any)["labels"].(map[string]any)["app.kubernetes.io/name"].(string)
				reads, groups := false, false
				for _, a := range o.Map["spec"].(map[string]any)["authorization"].(map[string]any)["acls"].([]any) {
					res := a.(map[string]any)["resource"].(map[string]any)
					switch res["type"] {
					case "topic":
						users[svc] = append(users[svc], res["name"].(string))
						reads = reads || slices.Contains(a.(map[string]any)["operations"].([]any), any("Read"))
					case "group":
						groups = true
					}
				}
				if reads && !groups {
					t.Errorf("%s reads topics but its KafkaUser may use no consumer group (kafka.users.%s.groups)", svc, svc)
				}
			}
			for _, w := range workloads(t, r) {
				svc, ok := appService(w)
				if !ok {
					continue
				}
				env := containerEnv(t, w, w.Spec.Containers[0])
				if _, usesKafka := env["KAFKA_BROKERS"]; !usesKafka {
					continue
				}
				eff := map[string]setting{}
				for name, v := range reads[svc] {
					if v.HasDefault {
						eff[name] = setting{Value: v.Default}
					}
				}
				for k, v := range env {
					eff[k] = v
				}
				for _, topic := range topicsOf(eff) {
					if !slices.Contains(users[svc], topic) {
						t.Errorf("%s uses %s but its KafkaUser has no ACL for it (kafka.users.%s)", svc, topic, svc)
					}
				}
			}
		})
	}
}

// TestConsumerGroupsMatchContracts: docs/contracts.md's "Consumer groups and dead
// letters" table is what the release does. Every service whose config has a dead-letter
// topic has a row; the row's variable holds the row's DLQ topic in the rendered
// service; and with Kafka authentication on, the service's KafkaUser may use exactly the
// row's group, read exactly the row's topics and write its DLQ topic.
func TestConsumerGroupsMatchContracts(t *testing.T) {
	ticked := regexp.MustCompile("`([^`]+)`")
	type row struct {
		group, dlq, dlqVar string
		consumes           []string
	}
	rows := map[string]row{}
	for _, cells := range contractTable(t, "### Consumer groups and dead letters") {
		if len(cells) < 4 {
			t.Fatalf("docs/contracts.md consumer groups: short row %v", cells)
		}
		var r row
		if m := ticked.FindStringSubmatch(cells[1]); m != nil {
			r.group = m[1]
		}
		for _, m := range ticked.FindAllStringSubmatch(cells[2], -1) {
			r.consumes = append(r.consumes, m[1])
		}
		if m := ticked.FindAllStringSubmatch(cells[3], -1); len(m) == 2 {
			r.dlq, r.dlqVar = m[0][1], m[1][1]
		}
		if r.group == "" || len(r.consumes) == 0 || r.dlq == "" {
			t.Fatalf("docs/contracts.md consumer groups: cannot read row %v", cells)
		}
		sort.Strings(r.consumes)
		rows[cells[0]] = r
	}
	reads := map[string]map[string]EnvVar{}
	for _, s := range chartedServices(t) {
		reads[s] = serviceEnv(t, s)
		for name := range reads[s] {
			if strings.HasSuffix(name, "_DLQ_TOPIC") {
				if r, ok := rows[s]; !ok {
					t.Errorf("%s reads %s: docs/contracts.md's consumer groups table has no row for it", s, name)
				} else if r.dlqVar != name {
					t.Errorf("%s: docs/contracts.md names its DLQ variable %s, the config reads %s", s, r.dlqVar, name)
				}
			}
		}
	}
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, w := range workloads(t, r) {
				svc, ok := appService(w)
				row, documented := rows[svc]
				if !ok || !documented {
					continue
				}
				eff := map[string]setting{}
				for name, v := range reads[svc] {
					if v.HasDefault {
						eff[name] = setting{Value: v.Default}
					}
				}
				for k, v := range containerEnv(t, w, w.Spec.Containers[0]) {
					eff[k] = v
				}
				if got := eff[row.dlqVar].Value; got != row.dlq {
					t.Errorf("%s: %s is %q, docs/contracts.md says %s", svc, row.dlqVar, got, row.dlq)
				}
			}
			for _, o := range r.byKind("KafkaUser") {
				svc := o.Map["metadata"].(map[string]any)["labels"].(map[string]any)["app.kubernetes.io/name"].(string)
				var groups, read, write []string
				for _, a := range o.Map["spec"].(map[string]any)["authorization"].(map[string]any)["acls"].([]any) {
					res := a.(map[string]any)["resource"].(map[string]any)
					ops := a.(map[string]any)["operations"].([]any)
					name := res["name"].(string)
					switch {
					case res["type"] == "group":
						groups = append(groups, name)
					case slices.Contains(ops, any("Read")):
						read = append(read, name)
					case slices.Contains(ops, any("Write")):
						write = append(write, name)
					}
				}
				sort.Strings(groups)
				sort.Strings(read)
				row, documented := rows[svc]
				switch {
				case !documented && (len(groups) > 0 || len(read) > 0):
					t.Errorf("KafkaUser of %s reads %v as %v; docs/contracts.md's consumer groups table has no row for %s", svc, read, groups, svc)
				case !documented:
				case !slices.Equal(groups, []string{row.group}):
					t.Errorf("KafkaUser of %s may use groups %v, docs/contracts.md says %s", svc, groups, row.group)
				case !slices.Equal(read, row.consumes):
					t.Errorf("KafkaUser of %s reads %v, docs/contracts.md says %s consumes %v", svc, read, svc, row.consumes)
				case !slices.Contains(write, row.dlq):
					t.Errorf("KafkaUser of %s cannot write its dead-letter topic %s", svc, row.dlq)
				}
			}
		})
	}
}
