package discovery

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestParseStatic(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr string // substring; empty means success
	}{
		{name: "ok_two_services", in: "auth=127.0.0.1:8081,127.0.0.1:8091;email=127.0.0.1:8083",
			want: map[string][]string{"auth": {"127.0.0.1:8081", "127.0.0.1:8091"}, "email": {"127.0.0.1:8083"}}},
		{name: "ok_spaces_trailing_semicolon", in: " auth = localhost:8081 , [::1]:8091 ; ",
			want: map[string][]string{"auth": {"localhost:8081", "[::1]:8091"}}},
		{name: "err_empty", in: "", wantErr: "no services listed"},
		{name: "err_only_separators", in: " ; ;", wantErr: "no services listed"},
		{name: "err_missing_equals", in: "auth127.0.0.1:8081", wantErr: `entry "auth127.0.0.1:8081": want name=host:port`},
		{name: "err_empty_name", in: "=127.0.0.1:8081", wantErr: "empty service name"},
		{name: "err_duplicate", in: "auth=a:1;auth=b:2", wantErr: `service "auth" listed twice`},
		{name: "err_no_addresses", in: "auth=", wantErr: `service "auth": address ""`},
		{name: "err_empty_address_in_list", in: "auth=a:1,,b:2", wantErr: `service "auth": address ""`},
		{name: "err_missing_port", in: "auth=127.0.0.1", wantErr: "missing port"},
		{name: "err_bad_port", in: "auth=127.0.0.1:http", wantErr: "port must be 1-65535"},
		{name: "err_port_range", in: "auth=127.0.0.1:70000", wantErr: "port must be 1-65535"},
		{name: "err_empty_host", in: "auth=:8081", wantErr: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatic(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStatic(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStatic(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStatic(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "unknown_mode", cfg: Config{Mode: "etcd"}, wantErr: `unknown mode "etcd"`},
		{name: "static_malformed", cfg: Config{Mode: "static", Static: "auth"}, wantErr: "discovery: static: entry"},
		{name: "dns_suffix_without_dot", cfg: Config{Mode: "dns", DNSSuffix: "instant.svc"}, wantErr: "must start with '.'"},
		{name: "dns_port_range", cfg: Config{Mode: "dns", DNSPort: 70000}, wantErr: "out of range"},
		{name: "consul_no_addr", cfg: Config{Mode: "consul", Services: []string{"auth"}}, wantErr: "empty address"},
		{name: "consul_no_services", cfg: Config{Mode: "consul", ConsulAddr: "127.0.0.1:8500"}, wantErr: "no services"},
		{name: "consul_empty_service", cfg: Config{Mode: "consul", ConsulAddr: "127.0.0.1:8500", Services: []string{""}}, wantErr: "no services"},
		{name: "consul_bad_scheme", cfg: Config{Mode: "consul", ConsulAddr: "ftp://consul", Services: []string{"auth"}}, wantErr: "consul client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(t.Context(), tt.cfg, testLogger(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				if r != nil {
					r.Close()
				}
				t.Fatalf("New(%+v) error = %v, want containing %q", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

func TestStaticAndDNSInstances(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		service string
		want    []string
		wantErr error
	}{
		{name: "static_known", cfg: Config{Mode: "static", Static: "auth=127.0.0.1:8081,127.0.0.1:8091"},
			service: "auth", want: []string{"127.0.0.1:8081", "127.0.0.1:8091"}},
		{name: "static_unknown", cfg: Config{Mode: "static", Static: "auth=127.0.0.1:8081"},
			service: "email", wantErr: ErrNoInstances},
		{name: "dns_suffix_default_port", cfg: Config{Mode: "dns", DNSSuffix: ".instant.svc.cluster.local"},
			service: "auth", want: []string{"auth.instant.svc.cluster.local:80"}},
		{name: "dns_port", cfg: Config{Mode: "dns", DNSSuffix: ".instant.svc", DNSPort: 8080},
			service: "email", want: []string{"email.instant.svc:8080"}},
		{name: "dns_no_suffix", cfg: Config{Mode: "dns"}, service: "posts", want: []string{"posts:80"}},
		{name: "dns_empty_name", cfg: Config{Mode: "dns"}, service: "", wantErr: ErrNoInstances},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(t.Context(), tt.cfg, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer r.Close()
			got, err := r.Instances(tt.service)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Instances(%q) error = %v, want %v", tt.service, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Instances(%q) mismatch (-want +got):\n%s", tt.service, diff)
			}
		})
	}
}

func TestStaticInstancesReturnsCopy(t *testing.T) {
	r, err := New(context.Background(), Config{Mode: "static", Static: "auth=a:1,b:2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Instances("auth")
	got[0] = "mutated:1"
	again, _ := r.Instances("auth")
	if diff := cmp.Diff([]string{"a:1", "b:2"}, again); diff != "" {
		t.Errorf("caller's write leaked into the resolver (-want +got):\n%s", diff)
	}
}

func TestBalancer(t *testing.T) {
	r, err := New(t.Context(), Config{Mode: "static", Static: "auth=a:1,b:2,c:3;email=e:1"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b := NewBalancer(r)

	t.Run("pick_round_robin", func(t *testing.T) {
		var got []string
		for range 6 {
			addr, err := b.Pick("auth")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, addr)
		}
		if diff := cmp.Diff([]string{"a:1", "b:2", "c:3", "a:1", "b:2", "c:3"}, got); diff != "" {
			t.Errorf("picks (-want +got):\n%s", diff)
		}
	})
	t.Run("next_skips_excluded", func(t *testing.T) {
		for range 10 {
			addr, err := b.Next("auth", "b:2")
			if err != nil {
				t.Fatal(err)
			}
			if addr == "b:2" {
				t.Fatalf("Next returned the excluded instance")
			}
		}
	})
	t.Run("next_only_excluded_no_instances", func(t *testing.T) {
		if _, err := b.Next("email", "e:1"); !errors.Is(err, ErrNoInstances) {
			t.Errorf("Next error = %v, want ErrNoInstances", err)
		}
	})
	t.Run("pick_unknown_no_instances", func(t *testing.T) {
		if _, err := b.Pick("nope"); !errors.Is(err, ErrNoInstances) {
			t.Errorf("Pick error = %v, want ErrNoInstances", err)
		}
	})
	t.Run("concurrent_picks_spread_evenly", func(t *testing.T) {
		b := NewBalancer(r)
		const n = 300
		results := make(chan string, n)
		for range n {
			go func() {
				addr, _ := b.Pick("auth")
				results <- addr
			}()
		}
		counts := map[string]int{}
		for range n {
			counts[<-results]++
		}
		if diff := cmp.Diff(map[string]int{"a:1": 100, "b:2": 100, "c:3": 100}, counts); diff != "" {
			t.Errorf("distribution (-want +got):\n%s", diff)
		}
	})
}
