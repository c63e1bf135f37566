package discovery

// The fake below stands in for a Consul agent because none can run on the build machine.
// It speaks the parts of Consul's HTTP API this package uses, as documented at
// developer.hashicorp.com/consul/api-docs (health, agent/service, blocking queries), and
// it decodes requests into plain maps rather than the consul/api structs, so a wrong
// field name in our client code shows up as a test failure instead of round-tripping.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeInstance is one catalog entry: a service instance on a node with a health status.
type fakeInstance struct {
	ID, Node, NodeAddr, Addr string
	Port                     int
	Status                   string // "passing", "warning" or "critical"
}

type fakeConsul struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	index     uint64
	gen       int // bumped by restore: wakes every blocked query, as a snapshot restore does
	services  map[string][]fakeInstance
	changed   chan struct{} // closed and replaced on every change, to wake blocked queries
	failLeft  int           // health queries to answer with 500
	healthReq int           // health queries received
	blocked   int           // health queries currently held
	indexes   []uint64      // index parameter of every health query, in order
	tokens    []string      // X-Consul-Token of every agent request
	registers []map[string]any
	live      map[string]bool // registered service IDs
	deregs    []string
}

func newFakeConsul(t *testing.T) *fakeConsul {
	f := &fakeConsul{t: t, index: 1, services: map[string][]fakeInstance{}, live: map[string]bool{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health/service/{name}", f.health)
	mux.HandleFunc("PUT /v1/agent/service/register", f.register)
	mux.HandleFunc("PUT /v1/agent/service/deregister/{id}", f.deregister)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeConsul) addr() string { return f.srv.URL }

// set replaces a service's instances at a new, higher raft index.
func (f *fakeConsul) set(service string, insts ...fakeInstance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.services[service] = insts
	f.wakeLocked()
}

// restore simulates a snapshot restore: the index goes back to index and blocked queries
// return at once.
func (f *fakeConsul) restore(index uint64, service string, insts ...fakeInstance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = index
	f.gen++
	f.services[service] = insts
	f.wakeLocked()
}

// fail makes the next n health queries, including those blocked now, answer 500.
func (f *fakeConsul) fail(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLeft = n
	f.wakeLocked()
}

func (f *fakeConsul) wakeLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeConsul) snapshot() (healthReq, blocked, failLeft int, indexes []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.healthReq, f.blocked, f.failLeft, append([]uint64(nil), f.indexes...)
}

// health implements GET /v1/health/service/:service with ?passing and blocking ?index/?wait.
func (f *fakeConsul) health(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want, err := parseIndex(q.Get("index"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	wait := 5 * time.Minute // Consul's default
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil {
			http.Error(w, "invalid wait: "+err.Error(), http.StatusBadRequest)
			return
		}
		wait = min(wait, 10*time.Minute)
	}
	_, passing := q["passing"]
	timeout := time.NewTimer(wait)
	defer timeout.Stop()

	f.mu.Lock()
	f.healthReq++
	f.indexes = append(f.indexes, want)
	gen := f.gen
	// Hold while nothing newer than the client's index exists, as Consul does for index>0.
	for want > 0 && f.index <= want && f.gen == gen && f.failLeft == 0 {
		ch := f.changed
		f.blocked++
		f.mu.Unlock()
		expired := false
		select {
		case <-ch:
		case <-timeout.C:
			expired = true
		case <-r.Context().Done():
			expired = true
		}
		f.mu.Lock()
		f.blocked--
		if expired {
			break
		}
	}
	if r.Context().Err() != nil {
		f.mu.Unlock()
		return
	}
	if f.failLeft > 0 {
		f.failLeft--
		f.mu.Unlock()
		http.Error(w, "rpc error making call: No cluster leader", http.StatusInternalServerError)
		return
	}
	index, insts := f.index, f.services[r.PathValue("name")]
	f.mu.Unlock()

	out := []map[string]any{}
	for _, in := range insts {
		if passing && in.Status != "passing" {
			continue
		}
		out = append(out, serviceEntry(r.PathValue("name"), in))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
	w.Header().Set("X-Consul-KnownLeader", "true")
	w.Header().Set("X-Consul-LastContact", "0")
	json.NewEncoder(w).Encode(out)
}

// serviceEntry renders one element of the /v1/health/service response as Consul does.
func serviceEntry(name string, in fakeInstance) map[string]any {
	return map[string]any{
		"Node": map[string]any{
			"ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": in.Node, "Address": in.NodeAddr,
			"Datacenter": "dc1", "TaggedAddresses": map[string]string{"lan": in.NodeAddr},
			"Meta": map[string]string{}, "CreateIndex": 3, "ModifyIndex": 3,
		},
		"Service": map[string]any{
			"ID": in.ID, "Service": name, "Tags": []string{}, "Address": in.Addr,
			"Meta": map[string]string{}, "Port": in.Port, "EnableTagOverride": false,
			"Weights": map[string]int{"Passing": 1, "Warning": 1}, "CreateIndex": 5, "ModifyIndex": 5,
		},
		"Checks": []map[string]any{
			{"Node": in.Node, "CheckID": "serfHealth", "Name": "Serf Health Status",
				"Status": "passing", "ServiceID": "", "ServiceName": ""},
			{"Node": in.Node, "CheckID": "service:" + in.ID, "Name": "Service '" + name + "' check",
				"Status": in.Status, "ServiceID": in.ID, "ServiceName": name},
		},
	}
}

func parseIndex(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid index: %w", err)
	}
	return n, nil
}

// register implements PUT /v1/agent/service/register, rejecting what Consul rejects for
// the fields we use: a missing Name, and an HTTP check without a valid Interval.
func (f *fakeConsul) register(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "Request decode failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	if name, _ := body["Name"].(string); name == "" {
		http.Error(w, "Missing service name", http.StatusBadRequest)
		return
	}
	if check, ok := body["Check"].(map[string]any); ok {
		if h, _ := check["HTTP"].(string); h != "" {
			if u, err := url.Parse(h); err != nil || u.Host == "" {
				http.Error(w, "Invalid check: bad HTTP URL", http.StatusBadRequest)
				return
			}
			if d, err := time.ParseDuration(fmt.Sprint(check["Interval"])); err != nil || d <= 0 {
				http.Error(w, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, or TCP checks", http.StatusBadRequest)
				return
			}
		}
		if s, ok := check["DeregisterCriticalServiceAfter"]; ok {
			if _, err := time.ParseDuration(fmt.Sprint(s)); err != nil {
				http.Error(w, "Invalid check: bad DeregisterCriticalServiceAfter", http.StatusBadRequest)
				return
			}
		}
	}
	body["?replace-existing-checks"] = r.URL.Query().Get("replace-existing-checks")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, r.Header.Get("X-Consul-Token"))
	f.registers = append(f.registers, body)
	f.live[fmt.Sprint(body["ID"])] = true
}

// deregister implements PUT /v1/agent/service/deregister/:service_id.
func (f *fakeConsul) deregister(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, r.Header.Get("X-Consul-Token"))
	id := r.PathValue("id")
	if f.live[id] {
		delete(f.live, id)
		f.deregs = append(f.deregs, id)
		return
	}
	http.Error(w, "Unknown service ID "+strings.TrimSpace(id)+". Ensure that the service ID is passed, not the service name.", http.StatusNotFound)
}
