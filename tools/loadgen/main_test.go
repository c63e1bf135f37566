package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
			if rep.Operations == 0 || rep.OpsPerSecond <= 0 {
				t.Errorf("operations %d (%.1f/s), want some", rep.Operations, rep.OpsPerSecond)
			}
		})
	}

	t.Run("sweep", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sweep.json")
		var out bytes.Buffer
		args := append(common, "-sweep", "-sweep-workloads", "read-user-timeline,like", "-concurrency", "2",
			"-duration", "1s", "-json", path)
		if err := run(ctx, args, getenv, &out); err != nil {
			t.Fatalf("sweep: %v\n%s", err, &out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Sweep []sweepStep `json:"sweep"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("sweep JSON: %v\n%s", err, b)
		}
		if len(got.Sweep) != 2 || got.Sweep[0].Workload != "read-user-timeline" || got.Sweep[1].Workload != "like" {
			t.Fatalf("sweep steps: %+v", got.Sweep)
		}
		for _, s := range got.Sweep {
			sat, half := s.Saturation, s.Half
			if sat.Model != "closed" || sat.Concurrency != 2 || sat.OpsPerSecond <= 0 {
				t.Errorf("%s saturation run: model %s, concurrency %d, %.1f ops/s", s.Workload, sat.Model, sat.Concurrency, sat.OpsPerSecond)
			}
			// Half load is half of the saturation the first run measured, in the open model.
			if half.Model != "open" || half.Rate != sat.OpsPerSecond/2 || half.Overall.Requests == 0 {
				t.Errorf("%s half-load run: model %s at %.2f ops/s (saturation %.2f), %d requests",
					s.Workload, half.Model, half.Rate, sat.OpsPerSecond, half.Overall.Requests)
			}
		}
		if !strings.Contains(out.String(), "sweep: saturation with 2 users") {
			t.Errorf("no summary table:\n%s", &out)
		}
	})

	// A continuous run as the chart deploys it: codes read through a Mailpit-style API,
	// probes and metrics served, rounds repeated until stopped.
	t.Run("forever", func(t *testing.T) {
		mailpit := httptest.NewServer(fakeMailpit(t, s.InboxURL))
		defer mailpit.Close()
		out := &lockedBuffer{}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() {
			done <- run(runCtx, []string{"-base", s.GatewayURL, "-inbox", mailpit.URL, "-inbox-api", "mailpit",
				"-state", t.TempDir(), "-prefix", "forever", "-users", "3", "-follows", "1", "-posts", "1",
				"-workload", "login", "-rate", "4", "-duration", "1s", "-forever", "-listen", "127.0.0.1:0"}, getenv, out)
		}()
		var addr string
		waitFor(t, done, out, "the probe listener", func() bool {
			_, after, ok := strings.Cut(out.String(), "/metrics on ")
			addr, _, _ = strings.Cut(after, "\n")
			return ok && strings.Contains(after, "\n")
		})
		waitFor(t, done, out, "readiness after seeding", func() bool { return status(addr+"/readyz") == http.StatusOK })
		if status(addr+"/livez") != http.StatusOK {
			t.Error("/livez is not 200")
		}
		// Two finished rounds: the loop goes on after one (and re-checks the population).
		waitFor(t, done, out, "two rounds", func() bool {
			return strings.Contains(get(addr+"/metrics"), `loadgen_rounds_total{result="ok"} 2`)
		})
		m := get(addr + "/metrics")
		for _, want := range []string{
			`loadgen_requests_total{code="200",endpoint="POST /auth/verify-code"}`,
			`loadgen_request_duration_seconds_count{endpoint="POST /auth/request-code"}`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if strings.Contains(m, `result="failed"`) {
			t.Errorf("a round failed:\n%s", out)
		}
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stopped run returned %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the run did not stop within a minute of its context ending")
		}
		if !strings.Contains(out.String(), "round 1") || !strings.Contains(out.String(), "stopped") {
			t.Errorf("output:\n%s", out)
		}
	})
}

// waitFor polls cond for up to a minute (a guard against hanging, not a timing claim),
// failing early when the run ends.
func waitFor(t *testing.T, done chan error, out *lockedBuffer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before %s:\n%s", err, what, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute:\n%s", what, out)
		}
	}
}

func status(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(u string) string {
	resp, err := http.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fakeMailpit answers Mailpit's search API (GET /api/v1/search?query=to:"<address>",
// newest first, with Mailpit's field names) from make run's inbox, so the generator's
// Mailpit reader is exercised against mail the product really sent.
func fakeMailpit(t *testing.T, inbox string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/search", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		addr, ok := strings.CutPrefix(q, "to:")
		addr = strings.Trim(addr, `"`)
		if !ok || addr == "" {
			t.Errorf("mailpit search query %q, want to:\"<address>\"", q)
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		resp, err := http.Get(inbox + "/api/messages/latest?to=" + url.QueryEscape(addr))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		type address struct {
			Name    string `json:"Name"`
			Address string `json:"Address"`
		}
		type summary struct {
			ID          string    `json:"ID"`
			MessageID   string    `json:"MessageID"`
			Read        bool      `json:"Read"`
			From        address   `json:"From"`
			To          []address `json:"To"`
			Subject     string    `json:"Subject"`
			Created     time.Time `json:"Created"`
			Size        int       `json:"Size"`
			Attachments int       `json:"Attachments"`
			Snippet     string    `json:"Snippet"`
		}
		list := []summary{}
		if resp.StatusCode == http.StatusOK {
			var m struct {
				ID         int64     `json:"id"`
				ReceivedAt time.Time `json:"received_at"`
				From       string    `json:"from"`
				Subject    string    `json:"subject"`
				Text       string    `json:"text"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			list = append(list, summary{ID: fmt.Sprint(m.ID), From: address{Address: m.From},
				To: []address{{Address: addr}}, Subject: m.Subject, Created: m.ReceivedAt,
				Size: len(m.Text), Snippet: m.Text})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"total": len(list), "unread": len(list), "count": len(list),
			"messages_count": len(list), "start": 0, "tags": []string{}, "messages": list})
	})
	return mux
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
		{"forever_and_sweep", []string{"-forever", "-sweep"}, "exclude each other"},
		{"forever_without_duration", []string{"-forever", "-duration", "0"}, "need a -duration"},
		{"sweep_with_rate", []string{"-sweep", "-rate", "5"}, "drop -rate"},
		{"unknown_inbox_api", []string{"-inbox-api", "imap"}, "unknown inbox API"},
		{"bad_connect_to", []string{"-s3-connect-to", "nohost"}, "connect-to"},
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
