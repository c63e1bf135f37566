package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"instant/tools/devstack/stack"
	"instant/tools/loadgen/internal/load"
	"instant/tools/loadgen/internal/report"
)

// binDir holds the service binaries, built once for the package as the e2e suite does.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "instant-loadgen-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, s := range stack.DefaultServices() {
		args = append(args, "./services/"+s.Name)
	}
	cmd := exec.CommandContext(context.Background(), "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build services:", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// lockedBuffer keeps the stack's output for a failing test's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// unlimited lifts every gateway limit, as a load run needs.
var unlimited = map[string]string{
	"RATE_LIMIT_USER_PER_SECOND":     "1000000",
	"RATE_LIMIT_IP_PER_SECOND":       "1000000",
	"RATE_LIMIT_AUTH_IP_PER_MINUTE":  "1000000",
	"RATE_LIMIT_AUTH_EMAIL_PER_HOUR": "1000000",
}

// startStack runs the product on the embedded stores (cheap; real PostgreSQL and Redis
// are for the benchmark runs, not for this smoke test).
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	svcs := stack.DefaultServices()
	for i := range svcs {
		if svcs[i].Name == "gateway" {
			svcs[i].Env = unlimited
		}
	}
	vars := map[string]string{"LOG_LEVEL": "warn"}
	out := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{
		BinDir: binDir, DataDir: t.TempDir(), Services: svcs, GatewayAddr: "127.0.0.1:0",
		Getenv: func(k string) string { return vars[k] }, Stdout: out,
	})
	if err != nil {
		t.Fatalf("start stack: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop stack: %v", err)
		}
		if t.Failed() {
			t.Logf("stack output:\n%s", out)
		}
	})
	return s
}

// TestWorkloads seeds a handful of users through the API and runs every workload for a
// moment at a low rate: no errors, and every endpoint the workload touches reported.
// Timings are never asserted: they are noise on a shared machine.
func TestWorkloads(t *testing.T) {
	s := startStack(t)
	ctx := t.Context()
	getenv := func(string) string { return "" }
	common := []string{"-base", s.GatewayURL, "-inbox", s.InboxURL, "-state", t.TempDir(),
		"-users", "5", "-follows", "3", "-posts", "1", "-likes", "1", "-comments", "1"}

	var out bytes.Buffer
	if err := run(ctx, append(common, "-duration", "0"), getenv, &out); err != nil {
		t.Fatalf("seed: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "seeded: 5 users, 15 follows, 5 posts") {
		t.Fatalf("seed output:\n%s", &out)
	}
	// A second run reuses the state: nothing new is signed up or posted.
	out.Reset()
	if err := run(ctx, append(common, "-duration", "0"), getenv, &out); err != nil {
		t.Fatalf("seed again: %v\n%s", err, &out)
	}
	if strings.Contains(out.String(), "signing up") || strings.Contains(out.String(), "posting") {
		t.Errorf("the second seeding made things again:\n%s", &out)
	}

	for _, w := range load.Workloads {
		t.Run(w, func(t *testing.T) {
			model := []string{"-rate", "10"}
			if w == load.HomeTimeline {
				model = []string{"-concurrency", "2"} // the closed model, once
			}
			rep := runWorkload(t, ctx, append(append(common, "-workload", w, "-duration", "2s"), model...), getenv)
			if rep.Overall.Errors != 0 {
				t.Errorf("errors: %+v", rep.Overall.Statuses)
			}
			got := map[string]int64{}
			for _, e := range rep.Endpoints {
				got[e.Endpoint] = e.Requests
			}
			for _, ep := range load.Endpoints[w] {
				if got[ep] == 0 {
					t.Errorf("no requests to %s reported; report has %v", ep, got)
				}
			}
			if len(rep.Series) == 0 {
				t.Error("no time series")
			}
		})
	}
}

func runWorkload(t *testing.T, ctx context.Context, args []string, getenv func(string) string) report.Report {
	t.Helper()
	dir := t.TempDir()
	jsonPath, csvPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "series.csv")
	var out bytes.Buffer
	if err := run(ctx, append(args, "-json", jsonPath, "-csv", csvPath), getenv, &out); err != nil {
		t.Fatalf("loadgen %v: %v\n%s", args, err, &out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, b)
	}
	if csv, err := os.ReadFile(csvPath); err != nil || !strings.HasPrefix(string(csv), "second,requests") {
		t.Errorf("CSV: %v %q", err, csv)
	}
	if !strings.Contains(out.String(), "overall") {
		t.Errorf("no table on stdout:\n%s", &out)
	}
	return rep
}

func TestFlags(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"rate_and_concurrency", []string{"-rate", "5", "-concurrency", "2"}, "exclude each other"},
		{"unknown_profile", []string{"-profile", "huge"}, "unknown profile"},
		{"too_few_users", []string{"-users", "1"}, "at least 2"},
		{"stray_argument", []string{"extra"}, "unexpected arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), c.args, getenv, &out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run(%v) = %v, want an error with %q", c.args, err, c.want)
			}
		})
	}
}
