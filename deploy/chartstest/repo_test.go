package chartstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// TestEveryServiceIsDelivered: each charts/<name> is a service's (services/<name>), on
// the library with the shared schema, with a Dockerfile, a place in the umbrella chart
// (dependency, values key, schema key) and a skaffold artifact; and every service that
// can run (has its main.go) has a chart. Services still under construction are listed.
func TestEveryServiceIsDelivered(t *testing.T) {
	root := repoRoot(t)
	services := chartedServices(t)
	code := serviceNames(t)
	for _, s := range code {
		switch {
		case slices.Contains(services, s):
		case runnable(s):
			undelivered(t, "services/%s has a main package but no chart: deliver it (charts/README.md lists the steps)", s)
		default:
			t.Logf("NOTE: services/%s is under construction (no main.go) and not delivered yet", s)
		}
	}
	canonical, err := os.ReadFile(filepath.Join(root, "charts", "instant-lib", "service-values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	umbrella, err := chartutil.LoadChartfile(filepath.Join(root, "charts", "instant", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	uvals, err := chartutil.ReadValuesFile(filepath.Join(root, "charts", "instant", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var uschema map[string]any
	readJSON(t, filepath.Join(root, "charts", "instant", "values.schema.json"), &uschema)
	sk := readSkaffold(t)
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			if !slices.Contains(code, s) {
				t.Fatalf("charts/%s has no services/%s/internal/config: a chart without a service", s, s)
			}
			dir := filepath.Join(root, "charts", s)
			md, err := chartutil.LoadChartfile(filepath.Join(dir, "Chart.yaml"))
			if err != nil {
				t.Fatalf("charts/%s: %v (every service has a chart)", s, err)
			}
			if md.Name != s {
				t.Errorf("charts/%s is named %q", s, md.Name)
			}
			if !slices.ContainsFunc(md.Dependencies, func(d *chartDependency) bool { return d.Name == "instant-lib" }) {
				t.Errorf("charts/%s does not depend on instant-lib", s)
			}
			schema, err := os.ReadFile(filepath.Join(dir, "values.schema.json"))
			if err != nil || !bytes.Equal(schema, canonical) {
				t.Errorf("charts/%s/values.schema.json differs from charts/instant-lib/service-values.schema.json: cp charts/instant-lib/service-values.schema.json charts/%s/values.schema.json", s, s)
			}
			if _, err := os.Stat(filepath.Join(root, "services", s, "Dockerfile")); err != nil {
				t.Errorf("services/%s/Dockerfile: %v", s, err)
			}
			var dep bool
			for _, d := range umbrella.Dependencies {
				if d.Name == s {
					dep = true
					if d.Repository != "file://../"+s || d.Condition != s+".enabled" {
						t.Errorf("charts/instant dependency %s: repository %q condition %q, want file://../%s and %s.enabled", s, d.Repository, d.Condition, s, s)
					}
				}
			}
			if !dep {
				t.Errorf("charts/instant/Chart.yaml has no dependency on %s", s)
			}
			if _, ok := uvals[s]; !ok {
				t.Errorf("charts/instant/values.yaml has no %s: section (with enabled)", s)
			}
			if _, ok := uschema["properties"].(map[string]any)[s]; !ok {
				t.Errorf("charts/instant/values.schema.json does not allow %s", s)
			}
			checkSkaffoldArtifact(t, sk, s, "services/"+s+"/Dockerfile")
		})
	}
	for _, d := range umbrella.Dependencies {
		if d.Name != "instant-lib" && !slices.Contains(services, d.Name) {
			t.Errorf("charts/instant depends on %s, which is not a service under services/", d.Name)
		}
	}
	// One schema for what the umbrella and the services share.
	var sschema map[string]any
	readJSON(t, filepath.Join(root, "charts", "instant-lib", "service-values.schema.json"), &sschema)
	ug := uschema["definitions"].(map[string]any)["global"]
	sg := sschema["definitions"].(map[string]any)["global"]
	if !reflect.DeepEqual(ug, sg) {
		t.Error("definitions.global differs between charts/instant/values.schema.json and charts/instant-lib/service-values.schema.json")
	}
}

type chartDependency = chart.Dependency

func readJSON(t testing.TB, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// skaffoldConfig is the part of skaffold.yaml the tests read.
type skaffoldConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Build      struct {
		Artifacts []struct {
			Image   string `json:"image"`
			Context string `json:"context"`
			Docker  struct {
				Dockerfile string            `json:"dockerfile"`
				BuildArgs  map[string]string `json:"buildArgs"`
			} `json:"docker"`
		} `json:"artifacts"`
	} `json:"build"`
	Deploy struct {
		Helm struct {
			Releases []struct {
				Name              string            `json:"name"`
				ChartPath         string            `json:"chartPath"`
				Namespace         string            `json:"namespace"`
				ValuesFiles       []string          `json:"valuesFiles"`
				SetValueTemplates map[string]string `json:"setValueTemplates"`
			} `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
	Profiles []struct {
		Name    string `json:"name"`
		Patches []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"patches"`
	} `json:"profiles"`
}

func readSkaffold(t testing.TB) skaffoldConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c skaffoldConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	return c
}

// checkSkaffoldArtifact: skaffold builds instant/<s> from dockerfile with the
// repository root as context, and the release takes <s>.image.repository and tag from it.
func checkSkaffoldArtifact(t *testing.T, c skaffoldConfig, s, dockerfile string) {
	t.Helper()
	image := "instant/" + s
	found := false
	for _, a := range c.Build.Artifacts {
		if a.Image != image {
			continue
		}
		found = true
		if a.Context != "." || a.Docker.Dockerfile != dockerfile {
			t.Errorf("skaffold artifact %s: context %q dockerfile %q, want . and %s", image, a.Context, a.Docker.Dockerfile, dockerfile)
		}
		if a.Docker.BuildArgs["VERSION"] == "" {
			t.Errorf("skaffold artifact %s: no VERSION build arg", image)
		}
	}
	if !found {
		t.Errorf("skaffold.yaml builds no %s", image)
	}
	key := strings.ReplaceAll(image, "/", "_")
	for _, r := range c.Deploy.Helm.Releases {
		if r.SetValueTemplates[s+".image.repository"] != "{{.IMAGE_REPO_"+key+"}}" || !strings.HasPrefix(r.SetValueTemplates[s+".image.tag"], "{{.IMAGE_TAG_"+key+"}}") {
			t.Errorf("skaffold release %s does not wire %s.image.repository/tag to the %s artifact", r.Name, s, image)
		}
	}
	for _, p := range c.Profiles {
		for _, patch := range p.Patches {
			if strings.HasSuffix(patch.Path, "/setValueTemplates") {
				m, _ := patch.Value.(map[string]any)
				if !strings.HasPrefix(fmt.Sprint(m[s+".image.tag"]), "{{.IMAGE_TAG_"+key+"}}") {
					t.Errorf("skaffold profile %s replaces setValueTemplates without %s.image.tag", p.Name, s)
				}
			}
		}
	}
}

// TestSkaffold: the current schema, the umbrella chart deployed from its directory, a
// kind and an RKE2 profile each adding its values file, every values file existing.
func TestSkaffold(t *testing.T) {
	c := readSkaffold(t)
	if c.APIVersion != "skaffold/v4beta14" || c.Kind != "Config" {
		t.Errorf("skaffold.yaml: apiVersion %q kind %q", c.APIVersion, c.Kind)
	}
	if len(c.Deploy.Helm.Releases) != 1 || c.Deploy.Helm.Releases[0].ChartPath != "charts/instant" || c.Deploy.Helm.Releases[0].Namespace != "instant" {
		t.Fatalf("skaffold.yaml: want one Helm release of charts/instant in namespace instant")
	}
	profiles := map[string]string{"kind": "charts/instant/values-kind.yaml", "rke2": "charts/instant/values-rke2.yaml"}
	for name, file := range profiles {
		ok := false
		for _, p := range c.Profiles {
			if p.Name != name {
				continue
			}
			for _, patch := range p.Patches {
				if patch.Op == "add" && patch.Path == "/deploy/helm/releases/0/valuesFiles/-" && patch.Value == file {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("skaffold.yaml: profile %s does not add %s", name, file)
		}
		if _, err := os.Stat(filepath.Join(repoRoot(t), file)); err != nil {
			t.Error(err)
		}
	}
}

// TestKindConfig: the node ports values-kind.yaml fixes are the ones kind-config.yaml
// maps to localhost, on the ports the docs use.
func TestKindConfig(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Name       string `json:"name"`
		Networking struct {
			PodSubnet string `json:"podSubnet"`
		} `json:"networking"`
		Nodes []struct {
			Role              string `json:"role"`
			ExtraPortMappings []struct {
				ContainerPort int    `json:"containerPort"`
				HostPort      int    `json:"hostPort"`
				ListenAddress string `json:"listenAddress"`
				Protocol      string `json:"protocol"`
			} `json:"extraPortMappings"`
		} `json:"nodes"`
	}
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("kind-config.yaml: %v", err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		t.Errorf("kind-config.yaml: kind %q apiVersion %q", cfg.Kind, cfg.APIVersion)
	}
	mapped := map[int]int{}
	for _, n := range cfg.Nodes {
		for _, m := range n.ExtraPortMappings {
			mapped[m.ContainerPort] = m.HostPort
		}
	}
	r := render(t, renderCase{Name: "instant/values-kind.yaml", Chart: "instant", Values: []string{"charts/instant/values-kind.yaml"}, Umbrella: true})
	want := map[string]int{"apiGateway.nodePort.port": 8080, "devStores.mailpit.nodePort": 8025, "devStores.s3.nodePort": 9000}
	for path, host := range want {
		np := toInt(r.value(path, 0))
		if np == 0 {
			t.Errorf("values-kind.yaml: %s unset", path)
			continue
		}
		if mapped[np] != host {
			t.Errorf("kind-config.yaml maps node port %d (%s) to %d, want localhost:%d", np, path, mapped[np], host)
		}
	}
	// files signs presigned URLs for the host a client on the machine reaches: the node
	// port's host mapping.
	if pub, want := fmt.Sprint(r.value("files.env.S3_PUBLIC_ENDPOINT", "")), fmt.Sprintf("http://localhost:%d", mapped[toInt(r.value("devStores.s3.nodePort", 0))]); pub != want {
		t.Errorf("values-kind.yaml: files S3_PUBLIC_ENDPOINT %q, want %q (kind-config.yaml's mapping of devStores.s3.nodePort)", pub, want)
	}
	if trusted := fmt.Sprint(r.value("gateway.env.TRUSTED_PROXIES", "")); !strings.Contains(trusted, cfg.Networking.PodSubnet) {
		t.Errorf("values-kind.yaml: gateway TRUSTED_PROXIES %q lacks kind's pod subnet %s", trusted, cfg.Networking.PodSubnet)
	}
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 0
}

// TestClusterManifests: the YAML under k8s/ parses; Namespaces decode strictly; the
// Consul objects validate against their CRDs.
func TestClusterManifests(t *testing.T) {
	root := repoRoot(t)
	var objs []Object
	err := filepath.Walk(filepath.Join(root, "k8s"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for i, doc := range strings.Split(string(b), "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if _, err := yaml.YAMLToJSONStrict([]byte(doc)); err != nil {
				t.Errorf("%s document %d: %v", rel, i, err)
				continue
			}
			if !strings.Contains(doc, "\nkind:") && !strings.HasPrefix(strings.TrimSpace(stripComments(doc)), "kind:") {
				continue // Helm values
			}
			o, err := parseObject("k8s", rel, "", doc)
			if err != nil {
				t.Error(err)
				continue
			}
			objs = append(objs, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var crs []Object
	for _, o := range objs {
		if crdGroups[o.APIGroup] {
			crs = append(crs, o)
			continue
		}
		mk, ok := typed[gvk(o)]
		if !ok {
			t.Errorf("%s: no Go type for %s", o, gvk(o))
			continue
		}
		if err := decodeStrict(o, mk()); err != nil {
			t.Errorf("%s: %v", o, err)
		}
	}
	if len(crs) == 0 {
		return
	}
	crds := loadCRDs(t)
	for _, o := range crs {
		v, ok := crds[gvk(o)]
		if !ok {
			t.Errorf("%s: no CRD for %s", o, gvk(o))
			continue
		}
		for _, e := range v.validateCR(o.Map) {
			t.Errorf("%s: %v", o, e)
		}
	}
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
