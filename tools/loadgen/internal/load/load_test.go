package load

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"instant/tools/loadgen/internal/api"
	"instant/tools/loadgen/internal/seed"
)

// TestOpenModelCountsFromTheSchedule checks coordinated-omission correctness: a server
// that takes 100 ms per request and one request in flight at a time cannot keep up with
// 50 requests a second, so the later requests wait, and that wait must be in their
// latency. The bound below follows from the sleeps alone (20 serial requests of ≥ 100 ms
// end ≥ 2 s after the start; the last was due at 380 ms), not from machine speed.
func TestOpenModelCountsFromTheSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	st := &seed.State{Users: []api.Session{{UserID: "a", SessionID: "s1"}, {UserID: "b", SessionID: "s2"}}}
	c, err := api.New(api.Options{Base: srv.URL, Inbox: srv.URL, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	rep, err := Run(t.Context(), c, st, Config{Workload: HomeTimeline, Rate: 50, Duration: 400 * time.Millisecond, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Overall.Requests != 20 || rep.Overall.Errors != 0 {
		t.Fatalf("requests %d errors %d, want 20 and 0", rep.Overall.Requests, rep.Overall.Errors)
	}
	if rep.Overall.Max < 1600 {
		t.Errorf("max latency %.0f ms, want ≥ 1600 ms: the wait behind the stalled server is missing", rep.Overall.Max)
	}
}

func TestRunRefusesWhatItCannotDo(t *testing.T) {
	c, err := api.New(api.Options{Base: "http://127.0.0.1:1", Inbox: "http://127.0.0.1:1", Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	two := &seed.State{Users: []api.Session{{}, {}}}
	for _, tc := range []struct {
		name string
		st   *seed.State
		cfg  Config
	}{
		{"unknown_workload", two, Config{Workload: "dance", Rate: 1, Duration: time.Second}},
		{"one_user", &seed.State{Users: []api.Session{{}}}, Config{Workload: Mixed, Rate: 1, Duration: time.Second}},
		{"like_without_posts", two, Config{Workload: Like, Rate: 1, Duration: time.Second}},
		{"no_rate", two, Config{Workload: Mixed, Duration: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(t.Context(), c, tc.st, tc.cfg); err == nil {
				t.Error("Run accepted it")
			}
		})
	}
}
