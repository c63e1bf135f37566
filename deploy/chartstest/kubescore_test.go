package chartstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// kube-score grades (github.com/zegl/kube-score/scorecard).
const (
	gradeCritical = 1
	gradeWarning  = 5
)

// explained are the critical kube-score findings the charts keep on purpose. Each
// names the check, the objects it may fire on ({service}: one of instant's services),
// the values cases where it may, and why.
// Anything critical not listed here fails TestKubeScore.
var explained = []struct {
	Check, Object string         // kube-score check id; "Kind/name" regexp
	When          *regexp.Regexp // render cases
	Why           string
}{
	{
		"container-image-pull-policy", `^(Deployment|Job)/({service}(-migrate)?|instant-loadgen)$`, regexp.MustCompile(`values-kind\.yaml`),
		"kind: `make kind-load` copies instant's images (the services' and the load generator's) onto the node and there is no registry to pull from, so they use IfNotPresent (pinned tags, so never stale). Every other image, and every image elsewhere, is pulled Always.",
	},
	{
		"service-targets-pod", `^Service/instant-api-gateway-nodeport$`, regexp.MustCompile(`.`),
		"kind: the Service exposes the Consul API gateway's pods at a fixed node port; consul-k8s creates those pods from the Gateway, so they are not in the chart's output.",
	},
	{
		"ingress-targets-service", `^Ingress/instant$`, regexp.MustCompile(`.`),
		"RKE2: the Ingress forwards to the Service consul-k8s creates for the Gateway (named after it), which is not in the chart's output.",
	},
}

// kubeScoreBinary finds the pinned kube-score (.ci/install-tools.sh puts it in
// $(go env GOPATH)/bin); $KUBE_SCORE overrides.
func kubeScoreBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBE_SCORE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("kube-score"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "kube-score")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	skipOrFail(t, "kube-score not found: run .ci/install-tools.sh kube-score")
	return ""
}

type scoredObject struct {
	ObjectName string `json:"object_name"`
	TypeMeta   struct {
		Kind string `json:"kind"`
	} `json:"type_meta"`
	ObjectMeta struct {
		Name string `json:"name"`
	} `json:"object_meta"`
	Checks []struct {
		Check struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"check"`
		Grade    int  `json:"grade"`
		Skipped  bool `json:"skipped"`
		Comments []struct {
			Path    string `json:"path"`
			Summary string `json:"summary"`
		} `json:"comments"`
	} `json:"checks"`
}

// TestKubeScore runs kube-score over every rendering. Critical findings fail unless
// explained above; warnings are listed.
func TestKubeScore(t *testing.T) {
	bin := kubeScoreBinary(t)
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			cmd := exec.Command(bin, "score", "--output-format", "json",
				"--kubernetes-version", fmt.Sprintf("v%s.%s", kubeVersion.Major, kubeVersion.Minor), "-")
			cmd.Stdin = bytes.NewReader(r.YAML())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			// kube-score exits 1 when it finds critical issues; the JSON says which.
			if err != nil && len(out) == 0 {
				t.Fatalf("kube-score: %v: %s", err, stderr.String())
			}
			var objs []scoredObject
			if err := json.Unmarshal(out, &objs); err != nil {
				t.Fatalf("kube-score output: %v", err)
			}
			var warnings []string
			for _, o := range objs {
				name := o.TypeMeta.Kind + "/" + o.ObjectMeta.Name
				for _, c := range o.Checks {
					if c.Skipped || c.Grade > gradeWarning {
						continue
					}
					var why []string
					for _, cm := range c.Comments {
						why = append(why, strings.TrimSpace(cm.Path+" "+cm.Summary))
					}
					line := fmt.Sprintf("%s: %s: %s", name, c.Check.ID, strings.Join(why, "; "))
					if c.Grade > gradeCritical {
						warnings = append(warnings, line)
						continue
					}
					if reason := explain(r.Case.Name, c.Check.ID, name); reason != "" {
						t.Logf("explained critical: %s\n    because %s", line, reason)
						continue
					}
					t.Errorf("critical: %s", line)
				}
			}
			sort.Strings(warnings)
			for _, w := range warnings {
				t.Logf("warning: %s", w)
			}
		})
	}
}

func explain(caseName, check, object string) string {
	services := "(" + strings.Join(chartedServices(nil), "|") + ")"
	for _, e := range explained {
		pattern := strings.ReplaceAll(e.Object, "{service}", services)
		if e.Check == check && regexp.MustCompile(pattern).MatchString(object) && e.When.MatchString(caseName) {
			return e.Why
		}
	}
	return ""
}
