package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// near is true when got is within HDR's precision (3 significant digits) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want*0.001+0.001 }

func TestPercentilesOfKnownSamples(t *testing.T) {
	start := time.Unix(1000, 0)
	r := New(start)
	// 1 ms .. 1000 ms, once each, on /a; the 1000th sample lands in second 2.
	for i := 1; i <= 1000; i++ {
		r.Record("GET /a", 200, nil, time.Duration(i)*time.Millisecond, start.Add(time.Duration(i)*2*time.Millisecond))
	}
	rep := r.Snapshot(4 * time.Second)
	a := rep.Endpoints[0]
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", a.P50, 500}, {"p90", a.P90, 900}, {"p99", a.P99, 990}, {"p99.9", a.P999, 999},
		{"max", a.Max, 1000}, {"mean", a.Mean, 500.5}, {"throughput", a.Throughput, 250},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v (±0.1%%)", c.name, c.got, c.want)
		}
	}
	if a.Requests != 1000 || a.Errors != 0 {
		t.Errorf("requests %d errors %d, want 1000 and 0", a.Requests, a.Errors)
	}
	if got := []int64{rep.Series[0].Requests, rep.Series[1].Requests, rep.Series[2].Requests}; !cmp.Equal(got, []int64{499, 500, 1}) {
		t.Errorf("per-second requests = %v", got)
	}
}

func TestErrorsByStatus(t *testing.T) {
	start := time.Now()
	r := New(start)
	for _, s := range []int{200, 201, 302, 404, 429, 503, 503} {
		r.Record("POST /b", s, nil, time.Millisecond, start)
	}
	r.Record("GET /c", 0, errors.New("connection refused"), time.Millisecond, start)
	rep := r.Snapshot(time.Second)
	c, b := rep.Endpoints[0], rep.Endpoints[1] // sorted by name

	want := map[string]int64{"200": 1, "201": 1, "302": 1, "404": 1, "429": 1, "503": 2}
	if diff := cmp.Diff(want, b.Statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if b.Errors != 4 || b.ServerErrors() != 2 {
		t.Errorf("POST /b errors %d server errors %d, want 4 and 2", b.Errors, b.ServerErrors())
	}
	if rep.Overall.Requests != 8 || rep.Overall.Errors != 5 || rep.Overall.ServerErrors() != 3 {
		t.Errorf("overall = %+v", rep.Overall)
	}
	if c.Endpoint != "GET /c" || c.Statuses[Transport] != 1 || c.Errors != 1 {
		t.Errorf("GET /c = %+v", c)
	}
}

func TestOutputs(t *testing.T) {
	start := time.Now()
	r := New(start)
	r.Record("GET /a", 200, nil, 3*time.Millisecond, start.Add(1500*time.Millisecond))
	rep := r.Snapshot(2 * time.Second)
	rep.Workload, rep.Model, rep.Rate = "mixed", "open", 10

	var table, js, csv bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "GET /a") || !strings.Contains(table.String(), "overall") {
		t.Errorf("table lacks rows:\n%s", table.String())
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if err := rep.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	want := "second,requests,errors,p50_ms,p99_ms,max_ms\n0,0,0,0.000,0.000,0.000\n1,1,0,3.001,3.001,3.001\n"
	if csv.String() != want {
		t.Errorf("csv = %q, want %q", csv.String(), want)
	}
}
