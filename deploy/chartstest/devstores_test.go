package chartstest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
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
			// Strimzi's User Operator writes each KafkaUser's password to a Secret of
			// the user's name.
			for _, o := range r.byKind("KafkaUser") {
				keys[o.Name+"/password"] = true
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

// TestDevDatabasesHook: with the in-chart PostgreSQL, a hook creates the databases an
// upgrade adds (the init script runs only on a new data directory) before any migration
// Job runs, for every database the init script creates.
func TestDevDatabasesHook(t *testing.T) {
	for _, r := range allRenderings(t) {
		if r.value("devStores.enabled", false) != true || r.value("devStores.postgres.enabled", false) != true {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			var hook *batchv1.Job
			weights := map[string]int{}
			for _, o := range r.byKind("Job") {
				var j batchv1.Job
				mustDecode(t, o, &j)
				w, err := strconv.Atoi(j.Annotations["helm.sh/hook-weight"])
				if err != nil {
					t.Errorf("%s: hook-weight %q: %v", o, j.Annotations["helm.sh/hook-weight"], err)
				}
				weights[j.Name] = w
				if j.Name == "instant-postgres-databases" {
					hook = &j
				}
			}
			if hook == nil {
				t.Fatal("no instant-postgres-databases hook Job: an upgrade adding a service would find no database for it")
			}
			if got := hook.Annotations["helm.sh/hook"]; got != "post-install,pre-upgrade" {
				t.Errorf("instant-postgres-databases runs on %q, want post-install,pre-upgrade", got)
			}
			for name, w := range weights {
				if name != hook.Name && w <= weights[hook.Name] {
					t.Errorf("Job %s (weight %d) may run before instant-postgres-databases (weight %d)", name, w, weights[hook.Name])
				}
			}
			var created []string
			for _, o := range r.byKind("ConfigMap") {
				if o.Name == "instant-postgres-init" {
					for _, m := range regexp.MustCompile(`CREATE DATABASE "([^"]+)"`).FindAllStringSubmatch(fmt.Sprint(o.Map["data"]), -1) {
						created = append(created, m[1])
					}
				}
			}
			listed := strings.Fields(plainEnv(hook.Spec.Template.Spec.Containers[0])["DATABASES"])
			sort.Strings(created)
			sort.Strings(listed)
			if len(created) == 0 || !slices.Equal(created, listed) {
				t.Errorf("the hook creates %v, the init script %v", listed, created)
			}
		})
	}
}
