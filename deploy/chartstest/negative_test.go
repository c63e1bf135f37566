package chartstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// The checks must be able to fail. These cases feed them broken input on purpose.

func TestSchemaRejectsTypos(t *testing.T) {
	root := repoRoot(t)
	cases := map[string]string{
		"umbrella key":   "kafak:\n  create: true\n",
		"service key":    "auth:\n  replicaCount: 2\n  resurces: {}\n",
		"global key":     "global:\n  image:\n    regsitry: x\n",
		"latest tag":     "global:\n  image:\n    tag: latest\n",
		"wrong type":     "gateway:\n  replicaCount: two\n",
		"env name":       "email:\n  env:\n    smtp_host: x\n",
		"secret ref key": "auth:\n  secretEnv:\n    DATABASE_URL:\n      existingSecrt: x\n",
		"loadgen key":    "loadgen:\n  rat: 5\n",
		"loadgen value":  "loadgen:\n  workload: mixd\n",
		"loadgen latest": "loadgen:\n  image:\n    tag: latest\n",
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "typo.yaml")
			if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := doRender(root, renderCase{Name: name, Chart: "instant", Values: []string{relOrAbs(root, f)}, Umbrella: true})
			if err == nil {
				t.Errorf("values %q rendered without error", values)
			} else {
				t.Logf("rejected: %v", firstLine(err.Error()))
			}
		})
	}
}

func relOrAbs(root, f string) string {
	rel, err := filepath.Rel(root, f)
	if err != nil {
		return f
	}
	return rel
}

func firstLine(s string) string {
	if i := strings.Index(s, "\n"); i > 0 {
		return s[:i] + " …"
	}
	return s
}

func TestStrictDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1,"replica":2}}`,
		"wrong case":    `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"Replicas":1}}`,
		"wrong type":    `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"1"}}`,
		"duplicate":     `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1,"replicas":2}}`,
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			o := Object{JSON: []byte(j)}
			if err := decodeStrict(o, &appsv1.Deployment{}); err == nil {
				t.Errorf("accepted %s", j)
			}
		})
	}
	if errs := validateMeta(map[string]any{"metadata": map[string]any{"name": "Bad_Name", "labels": map[string]any{"a": "not ok!"}}}, true); len(errs) < 2 {
		t.Errorf("metadata validation accepted a bad name and label: %v", errs)
	}
}

// TestChartRefusesBadCombinations: values that pass the schema but cannot work fail at
// render time with a message saying what to do.
func TestChartRefusesBadCombinations(t *testing.T) {
	root := repoRoot(t)
	cases := map[string]struct{ base, values, want string }{
		"pre-install migrations with the dev PostgreSQL": {"charts/instant/values-kind.yaml", "auth:\n  migrations:\n    hookEvents: pre-install,pre-upgrade\n", "post-install"},
		"ingress into the mesh without the API gateway":  {"charts/instant/values-rke2.yaml", "apiGateway:\n  enabled: false\n", "apiGateway"},
		"a variable the chart owns":                      {"", "gateway:\n  env:\n    HTTP_ADDR: \":9999\"\n", "ports"},
		"a variable set twice":                           {"", "auth:\n  env:\n    DATABASE_URL: sqlite:x\n", "both env and secretEnv"},
		"loadgen without an inbox":                       {"", "loadgen:\n  enabled: true\n", "loadgen.inboxURL"},
		"kafka.authentication, now a global value":       {"", "kafka:\n  authentication:\n    enabled: true\n", "global.kafka.authentication"},
		"Kafka credentials the chart sets":               {"", "global:\n  kafka:\n    authentication:\n      enabled: true\nposts:\n  env:\n    KAFKA_SASL_USERNAME: me\n", "global.kafka.authentication"},
		"loadgen into the mesh without the API gateway":  {"charts/instant/values-kind.yaml", "apiGateway:\n  enabled: false\nloadgen:\n  enabled: true\n", "loadgen.baseURL"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o644); err != nil {
				t.Fatal(err)
			}
			var files []string
			if c.base != "" {
				files = append(files, c.base)
			}
			files = append(files, relOrAbs(root, f))
			_, err := doRender(root, renderCase{Name: name, Chart: "instant", Values: files, Umbrella: true})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
