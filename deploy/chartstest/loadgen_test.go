package chartstest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// The load generator (charts/instant/templates/loadgen.yaml, tools/loadgen): an
// optional Deployment that enters like a client, as the helm test does.

const (
	loadgenName      = "instant-loadgen"
	loadgenComponent = "load-generator"
	loadgenPort      = 8090
)

// loadgenFlags reads the flags tools/loadgen defines: the first string literal of each
// flag.FlagSet definition (fs.String("base", …), fs.Var(&v, "name", …)) in its main
// package.
func loadgenFlags(t testing.TB) map[string]bool {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "tools", "loadgen")
	defs := map[string]bool{"String": true, "Int": true, "Int64": true, "Uint": true, "Uint64": true, "Bool": true,
		"Float64": true, "Duration": true, "Var": true, "Func": true, "BoolFunc": true, "TextVar": true,
		"StringVar": true, "IntVar": true, "Int64Var": true, "UintVar": true, "Uint64Var": true, "BoolVar": true,
		"Float64Var": true, "DurationVar": true}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !defs[sel.Sel.Name] {
				return true
			}
			for i, a := range call.Args {
				if i > 1 {
					break
				}
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if name, err := strconv.Unquote(lit.Value); err == nil {
						flags[name] = true
					}
					break
				}
			}
			return true
		})
	}
	if len(flags) == 0 {
		t.Fatalf("no flags found in %s", dir)
	}
	return flags
}

// loadgenWorkloads reads `var Workloads = []string{…}` and the constants it names from
// tools/loadgen/internal/load.
func loadgenWorkloads(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "tools", "loadgen", "internal", "load", "load.go"))
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*"([^"]+)"`).FindAllSubmatch(b, -1) {
		consts[string(m[1])] = string(m[2])
	}
	m := regexp.MustCompile(`var Workloads = \[\]string\{([^}]*)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("tools/loadgen/internal/load/load.go: no `var Workloads = []string{…}`")
	}
	var out []string
	for _, id := range strings.Split(string(m[1]), ",") {
		id = strings.TrimSpace(id)
		if v, ok := consts[id]; ok {
			out = append(out, v)
		} else if s, err := strconv.Unquote(id); err == nil {
			out = append(out, s)
		} else if id != "" {
			t.Fatalf("load.Workloads names %s, which is not a string constant of load.go", id)
		}
	}
	return out
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return -1
}

// parseArgs maps each "-name=value" argument to its value ("-name" alone: "true").
func parseArgs(t testing.TB, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			t.Errorf("argument %q is not a -flag=value: the chart passes every flag in one argument", a)
			continue
		}
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			value = "true"
		}
		if _, dup := m[name]; dup {
			t.Errorf("-%s given twice", name)
		}
		m[name] = value
	}
	return m
}

// admits reports whether one of pols lets a pod labelled from reach a pod labelled to
// on port (the same namespace: a podSelector peer without a namespaceSelector).
func admits(pols []networkingv1.NetworkPolicy, to, from map[string]string, port int) bool {
	for _, p := range pols {
		if !selects(p.Spec.PodSelector.MatchLabels, to) {
			continue
		}
		for _, rule := range p.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, pp := range rule.Ports {
				if pp.Port != nil && pp.Port.IntValue() == port {
					portOK = true
				}
			}
			if !portOK {
				continue
			}
			if len(rule.From) == 0 {
				return true
			}
			for _, peer := range rule.From {
				if peer.PodSelector != nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
					sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if err == nil && sel.Matches(labels.Set(from)) {
						return true
					}
				}
			}
		}
	}
	return false
}

// TestLoadGenerator: off by default; when on, one pod outside the mesh runs
// `loadgen -forever` against the same public entry, inbox and S3 address as the helm
// test, with flags tools/loadgen defines, a writable state directory, probes on its
// -listen port, the services' image registry and tag, and a network path to everything
// it calls. A rendering with it on must exist, so every other test covers it too.
func TestLoadGenerator(t *testing.T) {
	flags := loadgenFlags(t)
	workloads := loadgenWorkloads(t)
	covered := false
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			var objs []Object
			for _, o := range r.Objects {
				if l, _ := o.Map["metadata"].(map[string]any)["labels"].(map[string]any); l["app.kubernetes.io/component"] == loadgenComponent {
					objs = append(objs, o)
				}
			}
			if r.value("loadgen.enabled", false) != true {
				if len(objs) > 0 {
					t.Errorf("loadgen.enabled is false, yet %v render", objs)
				}
				return
			}
			covered = true
			checkLoadGenerator(t, r, flags, workloads)
		})
	}
	if !covered {
		t.Error("no rendering enables loadgen: add it to a values case (testdata/values-everything.yaml)")
	}
	// Off by default.
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "instant", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals struct {
		Loadgen struct {
			Enabled *bool `json:"enabled"`
		} `json:"loadgen"`
	}
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatal(err)
	}
	if vals.Loadgen.Enabled == nil || *vals.Loadgen.Enabled {
		t.Error("charts/instant/values.yaml: loadgen.enabled must be false by default")
	}
}

func checkLoadGenerator(t *testing.T, r *Rendering, flags map[string]bool, workloads []string) {
	var dep *appsv1.Deployment
	var gatewayImage, gatewayPull string
	var gatewayLabels map[string]string
	for _, o := range r.byKind("Deployment") {
		var d appsv1.Deployment
		mustDecode(t, o, &d)
		switch {
		case d.Name == loadgenName:
			dep = &d
		case d.Spec.Template.Labels["app.kubernetes.io/name"] == "gateway" && d.Spec.Template.Labels["app.kubernetes.io/component"] == "server":
			gatewayImage = d.Spec.Template.Spec.Containers[0].Image
			gatewayPull = string(d.Spec.Template.Spec.Containers[0].ImagePullPolicy)
			gatewayLabels = d.Spec.Template.Labels
		}
	}
	if dep == nil {
		t.Fatalf("loadgen.enabled, but no Deployment %s", loadgenName)
	}
	ps := dep.Spec.Template.Spec
	podLabels := dep.Spec.Template.Labels
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: a rolling update would run two generators at once", dep.Spec.Strategy.Type)
	}
	if podLabels["app.kubernetes.io/component"] != loadgenComponent || podLabels["app.kubernetes.io/part-of"] != "instant" {
		t.Errorf("pod labels %v: component %s and part-of instant (the dev stores admit instant's pods)", podLabels, loadgenComponent)
	}
	if a := dep.Spec.Template.Annotations["consul.hashicorp.com/connect-inject"]; a != "false" {
		t.Errorf("connect-inject %q: the generator enters like a client, outside the mesh", a)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("the pod mounts a ServiceAccount token it has no use for")
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	c := ps.Containers[0]

	// The image: the services' registry and tag, named loadgen.
	if want := regexp.MustCompile(`/gateway([:@])`).ReplaceAllString(gatewayImage, "/loadgen$1"); gatewayImage == "" || c.Image != want {
		t.Errorf("image %q, want %q (the gateway's %q, named loadgen)", c.Image, want, gatewayImage)
	}
	if string(c.ImagePullPolicy) != gatewayPull {
		t.Errorf("imagePullPolicy %s, the services' %s", c.ImagePullPolicy, gatewayPull)
	}

	// The command line: what tools/loadgen defines, the helm test's addresses.
	args := parseArgs(t, c.Args)
	for name := range args {
		if !flags[name] {
			t.Errorf("-%s: tools/loadgen defines no such flag", name)
		}
	}
	var test *corev1.Pod
	for _, o := range r.byKind("Pod") {
		if o.Hook == "test" {
			var p corev1.Pod
			mustDecode(t, o, &p)
			test = &p
		}
	}
	var testEnv map[string]string
	if test != nil {
		testEnv = plainEnv(test.Spec.Containers[0])
	}
	want := map[string]string{
		"forever":   "true",
		"listen":    fmt.Sprintf(":%d", loadgenPort),
		"workload":  fmt.Sprint(r.value("loadgen.workload", nil)),
		"duration":  fmt.Sprint(r.value("loadgen.roundDuration", nil)),
		"inbox-api": fmt.Sprint(r.value("loadgen.inboxAPI", nil)),
	}
	for flag, key := range map[string]string{"users": "users", "follows": "follows", "posts": "posts", "rate": "rate", "max-error-rate": "maxErrorRate"} {
		v := r.value("loadgen."+key, nil)
		got, err := strconv.ParseFloat(args[flag], 64)
		if err != nil || got != toFloat(v) {
			t.Errorf("-%s=%q, want loadgen.%s %v", flag, args[flag], key, v)
		}
	}
	if testEnv != nil && r.value("loadgen.baseURL", "") == "" {
		want["base"] = testEnv["BASE_URL"]
	}
	if testEnv != nil && r.value("loadgen.inboxURL", "") == "" {
		want["inbox"] = testEnv["INBOX_URL"]
	}
	for k, v := range want {
		if args[k] != v {
			t.Errorf("-%s=%q, want %q", k, args[k], v)
		}
	}
	if args["inbox"] == "" {
		t.Error("no -inbox: the generator cannot sign anyone up")
	}
	if _, err := url.ParseRequestURI(args["base"]); err != nil {
		t.Errorf("-base=%q: %v", args["base"], err)
	}
	if !slices.Contains(workloads, args["workload"]) {
		t.Errorf("-workload=%q is not one of tools/loadgen's %v", args["workload"], workloads)
	}
	var schema map[string]any
	readJSON(t, filepath.Join(repoRoot(t), "charts", "instant", "values.schema.json"), &schema)
	enum := schema["properties"].(map[string]any)["loadgen"].(map[string]any)["properties"].(map[string]any)["workload"].(map[string]any)["enum"].([]any)
	var names []string
	for _, e := range enum {
		names = append(names, e.(string))
	}
	if !slices.Equal(names, workloads) {
		t.Errorf("values.schema.json allows workloads %v, tools/loadgen has %v", names, workloads)
	}
	s3 := ""
	if testEnv != nil {
		s3 = testEnv["S3_CONNECT_TO"]
	}
	if r.value("loadgen.s3ConnectTo", "") == "" && args["s3-connect-to"] != s3 {
		t.Errorf("-s3-connect-to=%q, the helm test's S3_CONNECT_TO %q", args["s3-connect-to"], s3)
	}

	// The state directory is a mounted emptyDir (the root filesystem is read-only).
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != args["state"] {
			continue
		}
		for _, v := range ps.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly {
				mounted = true
			}
		}
	}
	if args["state"] == "" || !mounted {
		t.Errorf("-state=%q is not a writable emptyDir mount", args["state"])
	}

	// Probes and the metrics port on the -listen address.
	port := -1
	for _, p := range c.Ports {
		if p.Name == "internal" {
			port = int(p.ContainerPort)
		}
	}
	if port != loadgenPort {
		t.Errorf("container port internal is %d, -listen serves %d", port, loadgenPort)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/livez", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "internal" {
			t.Errorf("no GET %s probe on the internal port", path)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e, ok := env["GOMAXPROCS"]; !ok || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.cpu" {
		t.Error("GOMAXPROCS does not come from limits.cpu")
	}
	if _, ok := env["GOMEMLIMIT"]; !ok {
		t.Error("GOMEMLIMIT unset")
	}

	// Its Service and (when on) ServiceMonitor reach the metrics port.
	var svc *corev1.Service
	for _, o := range r.byKind("Service") {
		if o.Name == loadgenName {
			var s corev1.Service
			mustDecode(t, o, &s)
			svc = &s
		}
	}
	if svc == nil {
		t.Fatalf("no Service %s for /metrics", loadgenName)
	}
	if !selects(svc.Spec.Selector, podLabels) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != loadgenPort || svc.Spec.Ports[0].Name != "internal" {
		t.Errorf("Service %s does not reach the pod's port %d: %+v", loadgenName, loadgenPort, svc.Spec)
	}
	monitors := 0
	for _, o := range r.byKind("ServiceMonitor") {
		if o.Name != loadgenName {
			continue
		}
		monitors++
		var sm monitoringv1.ServiceMonitor
		mustDecode(t, o, &sm)
		if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "internal" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor %s does not scrape /metrics on the Service's internal port", loadgenName)
		}
	}
	if wantSM := r.value("loadgen.serviceMonitor.enabled", false) == true; wantSM != (monitors == 1) {
		t.Errorf("%d ServiceMonitors with loadgen.serviceMonitor.enabled %v", monitors, wantSM)
	}

	// Network: nothing reaches the generator but the scrapers, on the metrics port; the
	// generator reaches the gateway (when it calls it directly), the inbox and the S3
	// store when they are the chart's.
	var pols []networkingv1.NetworkPolicy
	for _, o := range r.byKind("NetworkPolicy") {
		var p networkingv1.NetworkPolicy
		mustDecode(t, o, &p)
		pols = append(pols, p)
	}
	mine := 0
	for _, p := range pols {
		if !selects(p.Spec.PodSelector.MatchLabels, podLabels) {
			continue
		}
		mine++
		for _, rule := range p.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s admits every source", p.Name)
			}
			for _, pp := range rule.Ports {
				if pp.Port == nil || pp.Port.IntValue() != loadgenPort {
					t.Errorf("NetworkPolicy %s opens port %v, not only the metrics port", p.Name, pp.Port)
				}
			}
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s opens every port", p.Name)
			}
		}
	}
	if mine != 1 {
		t.Errorf("%d NetworkPolicies select the generator, want 1", mine)
	}
	if u, err := url.Parse(args["base"]); err == nil && u.Hostname() == "gateway" {
		if gatewayLabels == nil {
			t.Error("-base names the gateway, which this release does not deploy")
		} else if !admits(pols, gatewayLabels, podLabels, 8080) {
			t.Error("the gateway's NetworkPolicy does not admit the load generator on its public port")
		}
		if r.connectInject() {
			t.Error("-base is the gateway inside the mesh: a pod outside it cannot call the gateway (enable apiGateway)")
		}
	}
	for _, target := range []struct{ flag, store string }{{"inbox", "instant-mailpit"}, {"s3-connect-to", "instant-s3"}} {
		addr := args[target.flag]
		if u, err := url.Parse(addr); err == nil && u.Host != "" {
			addr = u.Host
		}
		host, p, err := net.SplitHostPort(addr)
		if err != nil || host != target.store {
			continue
		}
		n, _ := strconv.Atoi(p)
		storeLabels := map[string]string{"app.kubernetes.io/name": target.store, "app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "dev-store"}
		if !admits(pols, storeLabels, podLabels, n) {
			t.Errorf("-%s=%s: %s's NetworkPolicy does not admit the load generator on %d", target.flag, args[target.flag], target.store, n)
		}
	}
}

// TestToolImagesAreDelivered: each tool the umbrella chart can run is built where the
// services are: a skaffold artifact wired to <name>.image, and `make images` /
// `make kind-load` (mk/cluster.mk DEPLOY_TOOLS). Its Dockerfile is checked with the
// services' (TestDockerfiles, TestImageBuildContext).
func TestToolImagesAreDelivered(t *testing.T) {
	root := repoRoot(t)
	sk := readSkaffold(t)
	mk, err := os.ReadFile(filepath.Join(root, "mk", "cluster.mk"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DEPLOY_TOOLS\s*\?=(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("mk/cluster.mk sets no DEPLOY_TOOLS: `make images` would not build the tools' images")
	}
	built := strings.Fields(string(m[1]))
	for _, img := range chartTools {
		t.Run(img.Name, func(t *testing.T) {
			checkSkaffoldArtifact(t, sk, img.Name, img.Dir+"/Dockerfile")
			if !slices.Contains(built, img.Name) {
				t.Errorf("mk/cluster.mk DEPLOY_TOOLS %v lacks %s", built, img.Name)
			}
			if !strings.Contains(string(mk), "tools/$$s/Dockerfile") || img.Dir != "tools/"+img.Name {
				t.Errorf("mk/cluster.mk builds DEPLOY_TOOLS from tools/<name>/Dockerfile; %s is in %s", img.Name, img.Dir)
			}
		})
	}
}
