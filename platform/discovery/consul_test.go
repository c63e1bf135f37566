package discovery

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// eventually polls cond until it holds or a generous deadline passes. The deadline only
// guards against hangs; nothing asserts how fast a change arrives.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newConsulResolver(t *testing.T, f *fakeConsul, services ...string) Resolver {
	t.Helper()
	r, err := New(t.Context(), Config{Mode: "consul", ConsulAddr: f.addr(), Services: services,
		ConsulInitialWait: 15 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func instancesOf(r Resolver, service string) []string {
	got, err := r.Instances(service)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return got
}

var (
	auth1 = fakeInstance{ID: "auth-1", Node: "n1", NodeAddr: "10.0.0.1", Addr: "10.1.0.1", Port: 8081, Status: "passing"}
	auth2 = fakeInstance{ID: "auth-2", Node: "n2", NodeAddr: "10.0.0.2", Addr: "", Port: 8081, Status: "passing"}
	auth3 = fakeInstance{ID: "auth-3", Node: "n3", NodeAddr: "10.0.0.3", Addr: "fd00::3", Port: 9000, Status: "passing"}
)

func TestConsulInitialFill(t *testing.T) {
	f := newFakeConsul(t)
	sick := fakeInstance{ID: "auth-9", Node: "n9", NodeAddr: "10.0.0.9", Addr: "10.1.0.9", Port: 8081, Status: "critical"}
	f.set("auth", auth1, auth2, auth3, sick)
	f.set("email", fakeInstance{ID: "email-1", Node: "n1", NodeAddr: "10.0.0.1", Port: 8083, Status: "passing"})
	r := newConsulResolver(t, f, "auth", "email", "posts")

	// New waited for the first answers, so no polling is needed here.
	tests := []struct {
		service string
		want    []string
		wantErr error
	}{
		// Service address preferred, node address as fallback, IPv6 bracketed, critical dropped.
		{service: "auth", want: []string{"10.0.0.2:8081", "10.1.0.1:8081", "[fd00::3]:9000"}},
		{service: "email", want: []string{"10.0.0.1:8083"}},
		{service: "posts", wantErr: ErrNoInstances}, // watched, nothing registered
		{service: "likes", wantErr: ErrNoInstances}, // not watched
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			got, err := r.Instances(tt.service)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Instances(%q) error = %v, want %v", tt.service, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Instances(%q) (-want +got):\n%s", tt.service, diff)
			}
		})
	}
	_, _, _, indexes := f.snapshot()
	if len(indexes) == 0 || indexes[0] != 0 {
		t.Errorf("first health query index = %v, want a non-blocking 0 first", indexes)
	}
}

func TestConsulUpdatesWithoutPerCallRoundTrip(t *testing.T) {
	f := newFakeConsul(t)
	f.set("auth", auth1)
	r := newConsulResolver(t, f, "auth")

	steps := []struct {
		name  string
		insts []fakeInstance
		want  []string
	}{
		{name: "added", insts: []fakeInstance{auth1, auth2}, want: []string{"10.0.0.2:8081", "10.1.0.1:8081"}},
		{name: "removed", insts: []fakeInstance{auth2}, want: []string{"10.0.0.2:8081"}},
		{name: "went_critical", insts: []fakeInstance{{ID: "auth-2", Node: "n2", NodeAddr: "10.0.0.2", Port: 8081, Status: "critical"}},
			want: []string{"error: discovery: no instances: no healthy \"auth\" in consul"}},
		{name: "back", insts: []fakeInstance{auth3}, want: []string{"[fd00::3]:9000"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.set("auth", st.insts...)
			eventually(t, "list "+st.name, func() bool { return cmp.Equal(st.want, instancesOf(r, "auth")) })

			// Once the watcher is parked in its next blocking query, lookups must be pure
			// memory reads: the fake's request count may not move.
			eventually(t, "watcher blocked", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 1 })
			before, _, _, _ := f.snapshot()
			for range 1000 {
				if _, err := r.Instances("auth"); err != nil && !errors.Is(err, ErrNoInstances) {
					t.Fatal(err)
				}
			}
			if after, _, _, _ := f.snapshot(); after != before {
				t.Errorf("1000 Instances calls made %d health requests, want 0", after-before)
			}
		})
	}
}

func TestConsulErrorsKeepLastList(t *testing.T) {
	f := newFakeConsul(t)
	f.set("auth", auth1, auth2)
	r := newConsulResolver(t, f, "auth")
	want := []string{"10.0.0.2:8081", "10.1.0.1:8081"}

	eventually(t, "watcher blocked", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 1 })
	f.fail(3)
	// All three 500s served and the watcher back in a successful blocking query.
	eventually(t, "recovery after 500s", func() bool {
		_, blocked, failLeft, _ := f.snapshot()
		return failLeft == 0 && blocked == 1
	})
	if diff := cmp.Diff(want, instancesOf(r, "auth")); diff != "" {
		t.Errorf("list after Consul errors (-want +got):\n%s", diff)
	}
	f.set("auth", auth3)
	eventually(t, "update after recovery", func() bool {
		return cmp.Equal([]string{"[fd00::3]:9000"}, instancesOf(r, "auth"))
	})
}

func TestConsulIndexBackwardsResets(t *testing.T) {
	f := newFakeConsul(t)
	for range 50 {
		f.set("auth", auth1) // push the raft index up to 51
	}
	r := newConsulResolver(t, f, "auth")
	eventually(t, "watcher blocked", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 1 })

	f.restore(7, "auth", auth2) // snapshot restore: index 51 -> 7
	eventually(t, "restored list", func() bool { return cmp.Equal([]string{"10.0.0.2:8081"}, instancesOf(r, "auth")) })
	eventually(t, "watcher blocked", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 1 })

	// After the backwards index the watcher must restart from 0, not keep waiting on 51.
	_, _, _, indexes := f.snapshot()
	i := slices.Index(indexes, 51)
	if i < 0 || !slices.Contains(indexes[i+1:], 0) {
		t.Errorf("health query indexes %v: want a reset to 0 after 51", indexes)
	}
	f.set("auth", auth3) // index 8: below the old 51, must still be seen
	eventually(t, "update after reset", func() bool { return cmp.Equal([]string{"[fd00::3]:9000"}, instancesOf(r, "auth")) })
}

func TestConsulUnreachableDoesNotFailNew(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now

	r, err := New(t.Context(), Config{Mode: "consul", ConsulAddr: addr, Services: []string{"auth"},
		ConsulInitialWait: 50 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatalf("New with Consul down: %v", err)
	}
	defer r.Close()
	if _, err := r.Instances("auth"); !errors.Is(err, ErrNoInstances) {
		t.Errorf("Instances error = %v, want ErrNoInstances", err)
	}
}

func TestConsulCloseStopsWatchers(t *testing.T) {
	f := newFakeConsul(t)
	f.set("auth", auth1)
	r := newConsulResolver(t, f, "auth", "email")
	eventually(t, "watchers blocked", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 2 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "blocked queries cancelled", func() bool { _, blocked, _, _ := f.snapshot(); return blocked == 0 })
	// The last list is still served after Close, for requests draining on shutdown.
	if diff := cmp.Diff([]string{"10.1.0.1:8081"}, instancesOf(r, "auth")); diff != "" {
		t.Errorf("after Close (-want +got):\n%s", diff)
	}
}

func TestRegister(t *testing.T) {
	f := newFakeConsul(t)
	dereg, err := Register(t.Context(), Registration{
		ConsulAddr: f.addr(), Token: "secret-token", Name: "posts", ID: "posts-1",
		Address: "10.0.0.7", Port: 8080, CheckPath: "/readyz",
		CheckInterval: 5 * time.Second, DeregisterAfter: 90 * time.Second, Tags: []string{"v1"},
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := map[string]any{
		"ID": "posts-1", "Name": "posts", "Tags": []any{"v1"}, "Address": "10.0.0.7", "Port": float64(8080),
		"Check": map[string]any{
			"HTTP":                           "http://10.0.0.7:8080/readyz",
			"Interval":                       "5s",
			"DeregisterCriticalServiceAfter": "1m30s",
		},
		"Checks":                   nil,
		"?replace-existing-checks": "true",
	}
	f.mu.Lock()
	regs := slices.Clone(f.registers)
	f.mu.Unlock()
	if len(regs) != 1 {
		t.Fatalf("got %d register calls, want 1", len(regs))
	}
	if diff := cmp.Diff(want, regs[0]); diff != "" {
		t.Errorf("register body (-want +got):\n%s", diff)
	}

	if err := dereg(t.Context()); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if diff := cmp.Diff([]string{"posts-1"}, f.deregs); diff != "" {
		t.Errorf("deregistered IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"secret-token", "secret-token"}, f.tokens); diff != "" {
		t.Errorf("X-Consul-Token headers (-want +got):\n%s", diff)
	}
}

func TestRegisterDefaults(t *testing.T) {
	f := newFakeConsul(t)
	if _, err := Register(t.Context(), Registration{ConsulAddr: f.addr(), Name: "auth", Address: "fd00::1", Port: 8081}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.registers[0]
	want := map[string]any{
		"ID":    "auth-fd00::1-8081",
		"Check": map[string]any{"HTTP": "http://[fd00::1]:8081/readyz", "Interval": "10s", "DeregisterCriticalServiceAfter": "1m0s"},
	}
	if diff := cmp.Diff(want, map[string]any{"ID": got["ID"], "Check": got["Check"]}); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestRegisterErrors(t *testing.T) {
	f := newFakeConsul(t)
	tests := []struct {
		name    string
		reg     Registration
		wantErr string
	}{
		{name: "no_consul_addr", reg: Registration{Name: "a", Address: "h", Port: 1}, wantErr: "empty consul address"},
		{name: "no_name", reg: Registration{ConsulAddr: f.addr(), Address: "h", Port: 1}, wantErr: "empty service name"},
		{name: "no_address", reg: Registration{ConsulAddr: f.addr(), Name: "a", Port: 1}, wantErr: "empty address"},
		{name: "bad_port", reg: Registration{ConsulAddr: f.addr(), Name: "a", Address: "h"}, wantErr: "port 0 out of range"},
		{name: "negative_interval", reg: Registration{ConsulAddr: f.addr(), Name: "a", Address: "h", Port: 1, CheckInterval: -time.Second}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Register(t.Context(), tt.reg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Register error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("deregister_unknown_404", func(t *testing.T) {
		dereg, err := Register(t.Context(), Registration{ConsulAddr: f.addr(), Name: "a", ID: "a-1", Address: "h", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := dereg(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := dereg(t.Context()); err == nil || !strings.Contains(err.Error(), "deregister a-1") {
			t.Errorf("second deregister error = %v, want a wrapped 404", err)
		}
	})
}

func TestNextIndex(t *testing.T) {
	tests := []struct {
		name       string
		prev, got  uint64
		wantResult uint64
	}{
		{name: "first_answer", prev: 0, got: 12, wantResult: 12},
		{name: "advanced", prev: 12, got: 15, wantResult: 15},
		{name: "unchanged_timeout", prev: 15, got: 15, wantResult: 15},
		{name: "backwards_resets_to_0", prev: 15, got: 3, wantResult: 0},
		{name: "zero_index_sanitised_to_1", prev: 0, got: 0, wantResult: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextIndex(tt.prev, tt.got); got != tt.wantResult {
				t.Errorf("nextIndex(%d, %d) = %d, want %d", tt.prev, tt.got, got, tt.wantResult)
			}
		})
	}
}
