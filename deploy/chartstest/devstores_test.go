package chartstest

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestDevStoresServeEveryService: where the chart generates the Secrets (kind), every
// Secret key a pod reads exists, each service with a DATABASE_URL gets its own database
// in the dev PostgreSQL, and the services point at the in-chart stores.
func TestDevStoresServeEveryService(t *testing.T) {
	for _, r := range allRenderings(t) {
		if r.value("devStores.enabled", false) != true || r.value("devStores.generateSecrets", false) != true {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			keys := map[string]bool{}
			for _, o := range r.byKind("Secret") {
				var s corev1.Secret
				mustDecode(t, o, &s)
				for k := range s.Data {
					keys[s.Name+"/"+k] = true
				}
			}
			var dbs string
			for _, o := range r.byKind("ConfigMap") {
				if o.Name == "instant-postgres-init" {
					dbs = fmt.Sprint(o.Map["data"])
				}
			}
			for _, w := range workloads(t, r) {
				for _, c := range w.Spec.Containers {
					for _, e := range c.Env {
						ref := e.ValueFrom
						if ref == nil || ref.SecretKeyRef == nil || (ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional) {
							continue
						}
						if !keys[ref.SecretKeyRef.Name+"/"+ref.SecretKeyRef.Key] {
							t.Errorf("%s: %s reads Secret %s key %s, which the dev stores do not generate", w.Object, e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
						}
						if svc, ok := appService(w); ok && e.Name == "DATABASE_URL" && !strings.Contains(dbs, `CREATE DATABASE "`+svc+`"`) {
							t.Errorf("%s: no database %q in devStores.postgres.databases", svc, svc)
						}
					}
				}
			}
		})
	}
}

// TestKafkaBootstrapMatchesCluster: when the chart creates the Kafka cluster, the
// services' bootstrap address is that cluster's bootstrap Service.
func TestKafkaBootstrapMatchesCluster(t *testing.T) {
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella || r.value("kafka.create", false) != true {
			continue
		}
		want := fmt.Sprint(r.value("kafka.clusterName", "")) + "-kafka-bootstrap:"
		if got := fmt.Sprint(r.value("global.kafka.bootstrapServers", "")); !strings.HasPrefix(got, want) {
			t.Errorf("%s: global.kafka.bootstrapServers %q is not the created cluster's %s…", r.Case.Name, got, want)
		}
	}
}
