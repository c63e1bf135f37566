package main

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"instant/tools/devstack/stack"
)

// TestRun starts the command as `make run` does, with a stand-in binary for every
// service, reads the banner, checks the gateway answers, and stops it as Ctrl-C would.
func TestRun(t *testing.T) {
	bin := t.TempDir()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	built := filepath.Join(t.TempDir(), "fakesvc")
	if out, err := exec.Command(goTool, "build", "-o", built, "./stack/testdata/fakesvc").CombinedOutput(); err != nil {
		t.Fatalf("build fake service: %v\n%s", err, out)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range stack.DefaultServices() {
		if err := os.WriteFile(filepath.Join(bin, svc.Name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		args := []string{"-bin", bin, "-data", t.TempDir(), "-gateway", "127.0.0.1:0", "-inbox", "127.0.0.1:0"}
		done <- run(runCtx, args, func(string) string { return "" }, pw)
		pw.Close()
	}()

	var out strings.Builder
	gatewayURL := ""
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "gateway" && strings.HasPrefix(f[1], "http://") {
			gatewayURL = f[1]
		}
		if line == "Ctrl-C stops everything." {
			break
		}
	}
	if gatewayURL == "" {
		t.Fatalf("no banner; output:\n%s", out.String())
	}
	for _, want := range []string{"instant is running", "/health)", "redis     embedded at redis://127.0.0.1:", "kafka     embedded at 127.0.0.1:", "smtp      embedded at 127.0.0.1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	resp, err := http.Get(gatewayURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("gateway /readyz: %s", resp.Status)
	}

	interrupt()
	drained := make(chan string)
	go func() {
		var rest strings.Builder
		for sc.Scan() {
			rest.WriteString(sc.Text() + "\n")
		}
		drained <- rest.String()
	}()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	rest := <-drained
	if !strings.Contains(rest, "stopping instant") || !strings.Contains(rest, `devstack | {`) {
		t.Errorf("shutdown output:\n%s", rest)
	}
}

func TestRun_badFlag(t *testing.T) {
	err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, io.Discard)
	if err == nil {
		t.Fatal("want an error for an unknown flag")
	}
}

func TestServiceSettings(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		wantErr bool
		want    map[string]string
	}{
		{"applies_to_named_service", []string{"gateway.RATE_LIMIT_USER_PER_SECOND=5000", "gateway.LOG_LEVEL=debug"}, false,
			map[string]string{"RATE_LIMIT_USER_PER_SECOND": "5000", "LOG_LEVEL": "debug"}},
		{"unknown_service", []string{"nosuch.X=1"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serviceSettings
			for _, f := range tt.flags {
				if err := s.Set(f); err != nil {
					t.Fatal(err)
				}
			}
			services := stack.DefaultServices()
			err := s.apply(services)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, svc := range services {
				if svc.Name == "gateway" && !maps.Equal(svc.Env, tt.want) {
					t.Fatalf("gateway env = %v, want %v", svc.Env, tt.want)
				}
			}
		})
	}
	var s serviceSettings
	for _, bad := range []string{"gateway", "gateway.X", ".X=1", "gateway.=1"} {
		if err := s.Set(bad); err == nil {
			t.Errorf("-set %q accepted", bad)
		}
	}
}

func TestBanner_s3(t *testing.T) {
	wd := filepath.Join(string(filepath.Separator), "src", "instant")
	tests := []struct {
		name     string
		endpoint string
		embedded bool
		want     string // "" means no s3 line
	}{
		{"embedded", "http://127.0.0.1:9000", true, "  s3        embedded at http://127.0.0.1:9000\n"},
		{"external", "https://media.example.com", false, "  s3        external https://media.example.com\n"},
		{"not_needed", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", DataDir: filepath.Join(wd, ".run"),
				S3Endpoint: tt.endpoint, EmbeddedS3: tt.embedded}
			b := banner(s, wd)
			if tt.want == "" && strings.Contains(b, "  s3 ") || tt.want != "" && !strings.Contains(b, tt.want) {
				t.Errorf("banner:\n%s\nwant s3 line %q", b, tt.want)
			}
			if !strings.Contains(b, "  data      .run\n") {
				t.Errorf("banner:\n%s\nwant the data directory relative to where devstack started", b)
			}
		})
	}
}
