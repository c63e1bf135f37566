package chartstest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is a rendered object that runs pods.
type workload struct {
	Object
	Meta metav1.ObjectMeta // the pod template's
	Spec corev1.PodSpec
	// LongRunning pods serve until stopped (Deployments, StatefulSets); Jobs and test
	// Pods end.
	LongRunning bool
	Selector    *metav1.LabelSelector
}

func workloads(t testing.TB, r *Rendering) []workload {
	t.Helper()
	var out []workload
	for _, o := range r.Objects {
		var w workload
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			mustDecode(t, o, &d)
			w = workload{o, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec, true, d.Spec.Selector}
		case "StatefulSet":
			var s appsv1.StatefulSet
			mustDecode(t, o, &s)
			w = workload{o, s.Spec.Template.ObjectMeta, s.Spec.Template.Spec, true, s.Spec.Selector}
		case "Job":
			var j batchv1.Job
			mustDecode(t, o, &j)
			w = workload{o, j.Spec.Template.ObjectMeta, j.Spec.Template.Spec, false, nil}
		case "Pod":
			var p corev1.Pod
			mustDecode(t, o, &p)
			w = workload{o, p.ObjectMeta, p.Spec, false, nil}
		default:
			continue
		}
		out = append(out, w)
	}
	return out
}

func mustDecode(t testing.TB, o Object, into any) {
	t.Helper()
	if err := decodeStrict(o, into); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

// appService reports whether w is one of instant's services (a Deployment made by the
// library chart), and which.
func appService(w workload) (string, bool) {
	if w.Kind != "Deployment" || w.Meta.Labels["app.kubernetes.io/component"] != "server" {
		return "", false
	}
	return w.Meta.Labels["app.kubernetes.io/name"], true
}

var tagged = regexp.MustCompile(`^[^@]+:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[a-f0-9]{64})?$|^[^@:]+@sha256:[a-f0-9]{64}$`)

// TestPodsAreRestrictedPinnedAndBounded: every container of every pod the charts run
// has a pinned image, requests and limits, and the restricted Pod Security Standard;
// long-running ones have probes; every pod says whether Consul injects it.
func TestPodsAreRestrictedPinnedAndBounded(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, w := range workloads(t, r) {
				checkPod(t, r, w)
			}
		})
	}
}

func checkPod(t *testing.T, r *Rendering, w workload) {
	t.Helper()
	bad := func(format string, args ...any) { t.Errorf("%s: %s", w.Object, fmt.Sprintf(format, args...)) }
	ps := w.Spec
	psc := ps.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		bad("uses the host's namespaces")
	}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			bad("mounts hostPath %s", v.HostPath.Path)
		}
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod seccompProfile is not RuntimeDefault")
	}
	if ann, ok := w.Meta.Annotations["consul.hashicorp.com/connect-inject"]; !ok {
		bad("no consul.hashicorp.com/connect-inject annotation: say whether the pod joins the mesh")
	} else if svc, ok := appService(w); ok {
		want := fmt.Sprint(r.connectInject())
		if ann != want {
			bad("%s: connect-inject %q, want %q (global.consul.connectInject)", svc, ann, want)
		}
	} else if ann != "false" {
		bad("connect-inject %q on a pod that is not an instant service", ann)
	}
	if ps.AutomountServiceAccountToken == nil {
		bad("automountServiceAccountToken unset: decide per pod")
	}
	containers := append(slices.Clone(ps.InitContainers), ps.Containers...)
	for i, c := range containers {
		isInit := i < len(ps.InitContainers)
		cb := func(format string, args ...any) { bad("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
		if !tagged.MatchString(c.Image) {
			cb("image %q is not pinned to a tag or digest", c.Image)
		}
		if strings.Contains(c.Image, ":latest") {
			cb("image %q uses latest", c.Image)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			req, okr := c.Resources.Requests[res]
			lim, okl := c.Resources.Limits[res]
			if !okr || !okl {
				cb("no %s request and limit", res)
			} else if req.Cmp(lim) > 0 {
				cb("%s request %s above limit %s", res, req.String(), lim.String())
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			cb("no securityContext")
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			cb("allowPrivilegeEscalation is not false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			cb("readOnlyRootFilesystem is not true")
		}
		if sc.Privileged != nil && *sc.Privileged {
			cb("privileged")
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			cb("runAsNonRoot is not true")
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if uid == nil || *uid == 0 {
			cb("runs as root or an image-chosen user")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			cb("capabilities are not drop [ALL] with nothing added")
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			cb("seccompProfile %s", sc.SeccompProfile.Type)
		}
		if w.LongRunning && !isInit {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				cb("long-running container without readiness and liveness probes")
			}
		}
	}
}

// TestInstantServicesProbeAndShutDownCleanly: the services' probes hit /livez and
// /readyz on the internal port; the kubelet waits longer than the drain and the
// shutdown deadline; the Go runtime knows the container's limits.
func TestInstantServicesProbeAndShutDownCleanly(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			n := 0
			for _, w := range workloads(t, r) {
				svc, ok := appService(w)
				if !ok {
					continue
				}
				n++
				c := w.Spec.Containers[0]
				bad := func(format string, args ...any) { t.Errorf("%s: %s", svc, fmt.Sprintf(format, args...)) }
				for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/livez", c.ReadinessProbe: "/readyz", c.StartupProbe: "/livez"} {
					if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "internal" {
						bad("a probe is not GET %s on the internal port", want)
					}
				}
				env := plainEnv(c)
				timeout := mustDuration(t, svc, env, "SHUTDOWN_TIMEOUT")
				drain := mustDuration(t, svc, env, "DRAIN_DELAY")
				grace := time.Duration(30) * time.Second
				if w.Spec.TerminationGracePeriodSeconds != nil {
					grace = time.Duration(*w.Spec.TerminationGracePeriodSeconds) * time.Second
				}
				if grace <= timeout+drain {
					bad("terminationGracePeriodSeconds %s is not above DRAIN_DELAY %s + SHUTDOWN_TIMEOUT %s", grace, drain, timeout)
				}
				if drain == 0 && w.Meta.Annotations["consul.hashicorp.com/connect-inject"] == "true" {
					bad("DRAIN_DELAY 0: endpoints and sidecars need a moment to stop sending traffic")
				}
				var procs, memlimit *corev1.EnvVar
				for i := range c.Env {
					switch c.Env[i].Name {
					case "GOMAXPROCS":
						procs = &c.Env[i]
					case "GOMEMLIMIT":
						memlimit = &c.Env[i]
					}
				}
				if procs == nil || procs.ValueFrom == nil || procs.ValueFrom.ResourceFieldRef == nil || procs.ValueFrom.ResourceFieldRef.Resource != "limits.cpu" {
					bad("GOMAXPROCS does not come from limits.cpu")
				}
				lim := c.Resources.Limits[corev1.ResourceMemory]
				switch {
				case memlimit == nil:
					bad("GOMEMLIMIT unset")
				case memlimit.ValueFrom != nil:
					if memlimit.ValueFrom.ResourceFieldRef == nil || memlimit.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
						bad("GOMEMLIMIT does not come from limits.memory")
					}
				default:
					q, err := resource.ParseQuantity(strings.TrimSuffix(memlimit.Value, "B"))
					if err != nil {
						bad("GOMEMLIMIT %q: %v", memlimit.Value, err)
					} else if q.Cmp(lim) >= 0 || q.Value() < lim.Value()/2 {
						bad("GOMEMLIMIT %s is not between half and all of the memory limit %s", memlimit.Value, lim.String())
					}
				}
				if w.Spec.ServiceAccountName != svc {
					bad("ServiceAccount %q: with Consul ACLs it must be the service's name", w.Spec.ServiceAccountName)
				}
			}
			if n == 0 {
				t.Fatal("no instant service rendered")
			}
		})
	}
}

func plainEnv(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			m[e.Name] = e.Value
		}
	}
	return m
}

func mustDuration(t *testing.T, svc string, env map[string]string, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(env[name])
	if err != nil {
		t.Errorf("%s: %s=%q: %v", svc, name, env[name], err)
	}
	return d
}

// TestWorkloadsHavePDBAndServiceAccount: every Deployment and StatefulSet has a
// PodDisruptionBudget selecting its pods and its own rendered ServiceAccount.
func TestWorkloadsHavePDBAndServiceAccount(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			var pdbs []policyv1.PodDisruptionBudget
			for _, o := range r.byKind("PodDisruptionBudget") {
				var p policyv1.PodDisruptionBudget
				mustDecode(t, o, &p)
				pdbs = append(pdbs, p)
			}
			sas := map[string]bool{}
			for _, o := range r.byKind("ServiceAccount") {
				sas[o.Name] = true
			}
			hpa := map[string]bool{}
			for _, o := range r.byKind("HorizontalPodAutoscaler") {
				ref, _ := o.Map["spec"].(map[string]any)["scaleTargetRef"].(map[string]any)
				hpa[fmt.Sprint(ref["name"])] = true
			}
			for _, w := range workloads(t, r) {
				if !w.LongRunning {
					continue
				}
				covered := 0
				for _, p := range pdbs {
					sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
					if err != nil {
						t.Errorf("PDB %s: %v", p.Name, err)
						continue
					}
					if sel.Matches(labels.Set(w.Meta.Labels)) {
						covered++
					}
				}
				if covered != 1 {
					t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", w.Object, covered)
				}
				sa := w.Spec.ServiceAccountName
				if sa == "" || sa == "default" || !sas[sa] {
					t.Errorf("%s: ServiceAccount %q is not one the chart renders", w.Object, sa)
				}
				if hpa[w.Name] && w.Map["spec"].(map[string]any)["replicas"] != nil {
					t.Errorf("%s: an HPA scales it, so spec.replicas must be left unset", w.Object)
				}
				sel, err := metav1.LabelSelectorAsSelector(w.Selector)
				if err != nil || !sel.Matches(labels.Set(w.Meta.Labels)) {
					t.Errorf("%s: selector does not match its pod template", w.Object)
				}
				for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"} {
					if w.Meta.Labels[k] == "" {
						t.Errorf("%s: pod template lacks the recommended label %s", w.Object, k)
					}
				}
			}
		})
	}
}

// TestNothingSecretInValues: the default values render no Secret, and no rendered
// environment carries a credential in plain text.
func TestNothingSecretInValues(t *testing.T) {
	creds := regexp.MustCompile(`://[^/\s:@]+:[^@\s]+@`)
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			dev := r.value("devStores.enabled", false) == true
			if secrets := r.byKind("Secret"); len(secrets) > 0 && !dev {
				t.Errorf("renders Secrets %v without dev stores: secrets come by reference", secrets)
			}
			for _, w := range workloads(t, r) {
				for _, c := range w.Spec.Containers {
					for _, e := range c.Env {
						if creds.MatchString(e.Value) {
							t.Errorf("%s: %s holds a URL with credentials; use secretEnv", w.Object, e.Name)
						}
					}
				}
			}
		})
	}
}
