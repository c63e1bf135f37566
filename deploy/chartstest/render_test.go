package chartstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "instant"
	namespace   = "instant"
)

// kubeVersion is the Kubernetes version the charts are rendered for: the oldest the
// charts support in practice (kind and RKE2 releases current with this code are newer).
var kubeVersion = chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

// renderCase is one chart rendered with one set of values files.
type renderCase struct {
	Name   string   // e.g. "instant/values-kind.yaml"
	Chart  string   // directory under charts/
	Values []string // values files, in helm -f order (paths relative to the repository)
	// Umbrella is true for charts/instant: the whole application.
	Umbrella bool
}

// cases are every rendering the tests prove: the umbrella chart with each shipped
// values file (and two test overlays reaching the optional objects), and each service
// chart on its own.
func cases() []renderCase {
	u := func(name string, files ...string) renderCase {
		return renderCase{Name: "instant/" + name, Chart: "instant", Values: files, Umbrella: true}
	}
	cs := []renderCase{
		u("values.yaml"),
		u("values-kind.yaml", "charts/instant/values-kind.yaml"),
		u("values-rke2.yaml", "charts/instant/values-rke2.yaml"),
		u("values-rke2.yaml+everything", "charts/instant/values-rke2.yaml", "deploy/chartstest/testdata/values-everything.yaml"),
		u("values-kind.yaml+no-mesh", "charts/instant/values-kind.yaml", "deploy/chartstest/testdata/values-no-mesh.yaml"),
	}
	for _, s := range chartedServices(nil) {
		cs = append(cs, renderCase{Name: s + "/values.yaml", Chart: s})
	}
	return cs
}

// Object is one rendered Kubernetes object.
type Object struct {
	Case     string
	Source   string // template that produced it
	Hook     string // helm.sh/hook events, "" for ordinary objects
	JSON     []byte
	Map      map[string]any
	APIGroup string // "apps", "" for core
	Version  string
	Kind     string
	Name     string
}

func (o Object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.Case, o.Kind, o.Name, o.Source)
}

// Rendering is a chart rendered for one case.
type Rendering struct {
	Case    renderCase
	Dir     string // the staged chart
	Values  chartutil.Values
	Objects []Object
	Notes   string
}

var (
	renderOnce  sync.Mutex
	renderCache = map[string]*Rendering{}
)

// render renders c once per test binary; every test reads the same result.
func render(t testing.TB, c renderCase) *Rendering {
	t.Helper()
	renderOnce.Lock()
	defer renderOnce.Unlock()
	if r, ok := renderCache[c.Name]; ok {
		return r
	}
	r, err := doRender(repoRoot(t), c)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	renderCache[c.Name] = r
	return r
}

// allRenderings renders every case.
func allRenderings(t testing.TB) []*Rendering {
	t.Helper()
	var out []*Rendering
	for _, c := range cases() {
		out = append(out, render(t, c))
	}
	return out
}

// readValues merges values files as `helm -f a -f b` does: later files win, maps merge.
func readValues(root string, files []string) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		out = mergeMaps(out, v.AsMap())
	}
	return out, nil
}

// mergeMaps is helm's values merge (pkg/cli/values): b wins, maps merge recursively.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if bv, ok := out[k]; ok {
				if bm, ok := bv.(map[string]any); ok {
					out[k] = mergeMaps(bm, vm)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

func doRender(root string, c renderCase) (*Rendering, error) {
	dir, err := os.MkdirTemp(stagingRoot, "render-")
	if err != nil {
		return nil, err
	}
	staged := filepath.Join(dir, c.Chart)
	if err := stageChart(filepath.Join(root, "charts", c.Chart), staged); err != nil {
		return nil, err
	}
	ch, err := loader.Load(staged)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	vals, err := readValues(root, c.Values)
	if err != nil {
		return nil, err
	}
	// What `helm install` does: conditions and import-values, then coalescing with the
	// charts' defaults and validation against every values.schema.json in the tree.
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = kubeVersion
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	// Strict: a template reading a value that does not exist fails instead of printing
	// <no value>, so a misspelt .Values path cannot pass.
	files, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	r := &Rendering{Case: c, Dir: staged, Values: rv["Values"].(chartutil.Values)}
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			if strings.HasPrefix(name, c.Chart+"/templates/") {
				r.Notes = content
			}
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sort manifests: %w", err)
	}
	add := func(source, hook, content string) error {
		for _, doc := range releaseutil.SplitManifests(content) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			o, err := parseObject(c.Name, source, hook, doc)
			if err != nil {
				return err
			}
			r.Objects = append(r.Objects, o)
		}
		return nil
	}
	for _, m := range manifests {
		if err := add(m.Name, "", m.Content); err != nil {
			return nil, err
		}
	}
	for _, h := range hooks {
		var ev []string
		for _, e := range h.Events {
			ev = append(ev, string(e))
		}
		if err := add(h.Path, strings.Join(ev, ","), h.Manifest); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(r.Objects, func(i, j int) bool {
		a, b := r.Objects[i], r.Objects[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return r, nil
}

func parseObject(caseName, source, hook, doc string) (Object, error) {
	// Duplicate keys are an error, as they are for the API server.
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return Object{}, fmt.Errorf("%s: %s: %w\n%s", caseName, source, err, doc)
	}
	// Whole numbers become int64, as in the API server's unstructured decoding.
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		return Object{}, fmt.Errorf("%s: %s: %w", caseName, source, err)
	}
	o := Object{Case: caseName, Source: source, Hook: hook, JSON: j, Map: m}
	av, _ := m["apiVersion"].(string)
	o.Kind, _ = m["kind"].(string)
	if md, ok := m["metadata"].(map[string]any); ok {
		o.Name, _ = md["name"].(string)
	}
	if g, v, ok := strings.Cut(av, "/"); ok {
		o.APIGroup, o.Version = g, v
	} else {
		o.Version = av
	}
	if av == "" || o.Kind == "" || o.Name == "" {
		return Object{}, fmt.Errorf("%s: %s: object without apiVersion, kind or name:\n%s", caseName, source, doc)
	}
	return o, nil
}

// dumpCase writes a rendering as one YAML stream (for kube-score and for humans).
func (r *Rendering) YAML() []byte {
	var b bytes.Buffer
	for _, o := range r.Objects {
		y, err := yaml.JSONToYAML(o.JSON)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s", o.Source, y)
	}
	return b.Bytes()
}

// byKind returns the objects of a kind.
func (r *Rendering) byKind(kind string) []Object {
	var out []Object
	for _, o := range r.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestRender renders every case (the other tests reuse the results) and writes them
// to $CHARTSTEST_OUT when set, for a human to read.
func TestRender(t *testing.T) {
	out := os.Getenv("CHARTSTEST_OUT")
	for _, c := range cases() {
		t.Run(c.Name, func(t *testing.T) {
			r := render(t, c)
			if len(r.Objects) == 0 {
				t.Fatal("rendered nothing")
			}
			if out != "" {
				name := strings.NewReplacer("/", "_", "+", "_").Replace(c.Name)
				if err := os.WriteFile(filepath.Join(out, name), r.YAML(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// value reads a dotted path from the rendering's values, or def when it is not set
// (the service charts' defaults live in the library's template, not in Values).
func (r *Rendering) value(path string, def any) any {
	var cur any = map[string]any(r.Values)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			if v, ok := cur.(chartutil.Values); ok {
				m = v
			} else {
				return def
			}
		}
		if cur, ok = m[k]; !ok {
			return def
		}
	}
	return cur
}

// connectInject is global.consul.connectInject (default true, as in the library).
func (r *Rendering) connectInject() bool { return r.value("global.consul.connectInject", true) == true }
