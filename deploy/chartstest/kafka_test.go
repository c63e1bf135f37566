package chartstest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestServicesSignInToKafka: with global.kafka.authentication on, every service that
// talks to Kafka (its config reads KAFKA_BROKERS and its Deployment sets it) signs in
// with SCRAM-SHA-512 as its own KafkaUser: KAFKA_SASL_USERNAME is the name of the
// KafkaUser labelled with the service's name, KAFKA_SASL_PASSWORD comes from the Secret
// Strimzi's User Operator writes for that user (same name, key "password"), and the
// KafkaUser authenticates with the mechanism the service uses. Every KafkaUser is some
// service's, and the migration Jobs, which do not talk to Kafka, carry no credentials.
// With authentication off, no container sets KAFKA_SASL_*. KAFKA_TLS follows the
// listener: set exactly when the chart's Kafka listener has TLS on.
func TestServicesSignInToKafka(t *testing.T) {
	reads := map[string]map[string]EnvVar{}
	for _, s := range chartedServices(t) {
		reads[s] = serviceEnv(t, s)
	}
	checked := 0 // Deployments checked with authentication on
	for _, r := range allRenderings(t) {
		auth := r.value("global.kafka.authentication.enabled", false) == true
		t.Run(r.Case.Name, func(t *testing.T) {
			users := map[string]string{} // service → its KafkaUser
			for _, o := range r.byKind("KafkaUser") {
				meta := o.Map["metadata"].(map[string]any)
				svc, _ := meta["labels"].(map[string]any)["app.kubernetes.io/name"].(string)
				users[svc] = o.Name
				authn, _ := o.Map["spec"].(map[string]any)["authentication"].(map[string]any)
				if authn["type"] != "scram-sha-512" {
					t.Errorf("%s: authentication %v; the services sign in with SCRAM-SHA-512", o, authn["type"])
				}
			}
			if !auth && len(users) > 0 {
				t.Errorf("KafkaUsers rendered with global.kafka.authentication off: %v", users)
			}
			listenerTLS, haveKafka := kafkaListenerTLS(r)
			signedIn := map[string]bool{}
			for _, w := range workloads(t, r) {
				for _, c := range w.Spec.Containers {
					env := containerEnv(t, w, c)
					var sasl []string
					for name := range kafkaCredentialEnv {
						if _, ok := env[name]; ok {
							sasl = append(sasl, name)
						}
					}
					sort.Strings(sasl)
					svc := w.Meta.Labels["app.kubernetes.io/name"]
					migration := w.Kind == "Job" && w.Meta.Labels["app.kubernetes.io/component"] == "migration"
					_, usesKafka := env["KAFKA_BROKERS"]
					switch {
					case !auth && len(sasl) > 0:
						t.Errorf("%s: sets %v without global.kafka.authentication", w.Object, sasl)
					case migration && len(sasl) > 0:
						t.Errorf("%s: sets %v: a pre-install migration Job waits for a Secret that only exists after install", w.Object, sasl)
					case auth && usesKafka && !migration:
						if _, ok := reads[svc]["KAFKA_SASL_USERNAME"]; !ok {
							t.Errorf("%s: sets KAFKA_BROKERS, but services/%s's config reads no KAFKA_SASL_* (embed service.Kafka)", w.Object, svc)
						}
						user, ok := users[svc]
						if !ok {
							t.Errorf("%s: talks to Kafka, but no KafkaUser is %s's (kafka.users.%s)", w.Object, svc, svc)
							continue
						}
						want := map[string]setting{
							"KAFKA_SASL_MECHANISM": {Value: "SCRAM-SHA-512"},
							"KAFKA_SASL_USERNAME":  {Value: user},
							"KAFKA_SASL_PASSWORD":  {Secret: user + "/password"},
						}
						for name, s := range want {
							if env[name] != s {
								t.Errorf("%s: %s is %s, want %s (the KafkaUser %s)", w.Object, name, env[name], s, user)
							}
						}
						signedIn[svc] = true
						if _, ok := appService(w); ok {
							checked++
						}
					}
					if usesKafka && haveKafka && (env["KAFKA_TLS"].Value == "true") != listenerTLS {
						t.Errorf("%s: KAFKA_TLS=%q, but the Kafka listener's tls is %v", w.Object, env["KAFKA_TLS"].Value, listenerTLS)
					}
				}
			}
			for svc, user := range users {
				if !signedIn[svc] {
					t.Errorf("KafkaUser %s: no workload of %s signs in as it", user, svc)
				}
			}
		})
	}
	if checked == 0 {
		t.Error("no values case turns global.kafka.authentication on: the credentials went unchecked")
	}
}

// kafkaListenerTLS reports whether the listener the services reach (the port of
// global.kafka.bootstrapServers) has TLS on, and whether the chart renders the Kafka
// cluster at all.
func kafkaListenerTLS(r *Rendering) (tls, ok bool) {
	kafkas := r.byKind("Kafka")
	if len(kafkas) == 0 {
		return false, false
	}
	bootstrap, _ := r.value("global.kafka.bootstrapServers", "").(string)
	port := bootstrap[strings.LastIndexByte(bootstrap, ':')+1:]
	spec := kafkas[0].Map["spec"].(map[string]any)["kafka"].(map[string]any)
	for _, l := range spec["listeners"].([]any) {
		l := l.(map[string]any)
		if fmt.Sprint(l["port"]) == port {
			on, _ := l["tls"].(bool)
			return on, true
		}
	}
	return false, false
}
