package chartstest

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestLint runs `helm lint --strict` (the SDK's lint package) over every chart with
// every values case: a warning fails as an error does.
func TestLint(t *testing.T) {
	root := repoRoot(t)
	for _, c := range cases() {
		t.Run(c.Name, func(t *testing.T) {
			r := render(t, c)
			vals, err := readValues(root, c.Values)
			if err != nil {
				t.Fatal(err)
			}
			kv := kubeVersion
			l := lint.AllWithKubeVersion(r.Dir, vals, namespace, &kv)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%s", m)
				} else {
					t.Logf("%s", m)
				}
			}
		})
	}
	t.Run("instant-lib", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "instant-lib")
		if err := stageChart(filepath.Join(root, "charts", "instant-lib"), dir); err != nil {
			t.Fatal(err)
		}
		kv := kubeVersion
		for _, m := range lint.AllWithKubeVersion(dir, nil, namespace, &kv).Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s", m)
			}
		}
	})
}
