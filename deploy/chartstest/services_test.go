package chartstest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// serviceNames lists the services of the repository: every services/<name> with an
// internal/config package.
func serviceNames(t testing.TB) []string {
	root := repoRootNoT()
	entries, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "services", e.Name(), "internal", "config")); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// chartedServices lists the services delivered to Kubernetes: every charts/<name> but
// the library and the umbrella. Each must be a service with a Dockerfile, a place in
// the umbrella chart and a skaffold artifact (TestEveryServiceIsDelivered); a service
// under services/ joins this list when its chart lands (charts/README.md).
func chartedServices(t testing.TB) []string {
	entries, err := os.ReadDir(filepath.Join(repoRootNoT(), "charts"))
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "instant" && e.Name() != "instant-lib" {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// requireDelivery makes a runnable service without a chart, or a gateway route to a
// service the release does not deploy, a test failure instead of a loud note. It is on:
// every service that can run is delivered, and a new one (feed) must bring its chart
// along (charts/README.md) before it gets a main package.
const requireDelivery = true

// undelivered reports a service that can run but has no delivery.
func undelivered(t testing.TB, format string, args ...any) {
	t.Helper()
	if requireDelivery {
		t.Errorf(format, args...)
	} else {
		t.Logf("NOTE (requireDelivery is off): "+format, args...)
	}
}

// runnable reports whether services/<name> has its main package yet. A service under
// construction (config and core, no main.go) is not delivered; once it can run, it must
// be (TestEveryServiceIsDelivered, TestIntentionsAllowExactlyTheCallsTheCodeMakes).
func runnable(name string) bool {
	_, err := os.Stat(filepath.Join(repoRootNoT(), "services", name, "main.go"))
	return err == nil
}
