// Package report collects what a load run measured — every request's endpoint, status
// and latency — into HDR histograms, and renders the result as a table for people, JSON
// for tools and a per-second CSV time series for charts.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to a minute, to three significant
// digits: a recorded value is within 0.1% of the true one.
const (
	minMicros = 1
	maxMicros = int64(time.Minute / time.Microsecond)
	sigFigs   = 3
)

// Transport is the status key for a request that got no HTTP answer at all.
const Transport = "transport"

// Recorder gathers samples from many goroutines. The zero value is not usable; use New.
type Recorder struct {
	mu        sync.Mutex
	start     time.Time
	endpoints map[string]*series
	overall   *series
	seconds   []*second
}

type series struct {
	hist     *hdrhistogram.Histogram
	requests int64
	errors   int64
	statuses map[string]int64
}

type second struct {
	hist     *hdrhistogram.Histogram
	requests int64
	errors   int64
}

func newSeries() *series {
	return &series{hist: hdrhistogram.New(minMicros, maxMicros, sigFigs), statuses: map[string]int64{}}
}

// New starts a recording; per-second buckets count from start.
func New(start time.Time) *Recorder {
	return &Recorder{start: start, endpoints: map[string]*series{}, overall: newSeries()}
}

// Record adds one request. status is the HTTP status, or 0 with err set when the request
// got no answer. Any status outside 2xx and 3xx, and any transport error, is an error.
func (r *Recorder) Record(endpoint string, status int, err error, latency time.Duration, done time.Time) {
	key := strconv.Itoa(status)
	failed := status < 200 || status >= 400
	if err != nil {
		key, failed = Transport, true
	}
	us := max(latency.Microseconds(), minMicros)
	us = min(us, maxMicros)

	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.endpoints[endpoint]
	if !ok {
		s = newSeries()
		r.endpoints[endpoint] = s
	}
	for _, s := range []*series{s, r.overall} {
		_ = s.hist.RecordValue(us) // clamped above, so never out of range
		s.requests++
		s.statuses[key]++
		if failed {
			s.errors++
		}
	}
	i := max(int(done.Sub(r.start)/time.Second), 0)
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &second{hist: hdrhistogram.New(minMicros, maxMicros, sigFigs)})
	}
	sec := r.seconds[i]
	_ = sec.hist.RecordValue(us)
	sec.requests++
	if failed {
		sec.errors++
	}
}

// Stats are one row of the report. Latencies are in milliseconds.
type Stats struct {
	Endpoint   string           `json:"endpoint"`
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"`
	Statuses   map[string]int64 `json:"statuses"`
	Throughput float64          `json:"throughput_per_second"`
	P50        float64          `json:"p50_ms"`
	P90        float64          `json:"p90_ms"`
	P99        float64          `json:"p99_ms"`
	P999       float64          `json:"p99_9_ms"`
	Max        float64          `json:"max_ms"`
	Mean       float64          `json:"mean_ms"`
}

// Second is one row of the time series.
type Second struct {
	Second   int     `json:"second"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// Report is a finished run.
type Report struct {
	Workload    string  `json:"workload"`
	Model       string  `json:"model"` // "open" or "closed"
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Users       int     `json:"users"`
	Duration    float64 `json:"duration_seconds"` // measured, from the first send to the last answer
	// Operations counts the workload's finished operations (a compose is three
	// requests, a login two), failed or not; OpsPerSecond is their rate.
	Operations   int64    `json:"operations"`
	OpsPerSecond float64  `json:"operations_per_second"`
	Endpoints    []Stats  `json:"endpoints"`
	Overall      Stats    `json:"overall"`
	Series       []Second `json:"series"`
	// Failures holds the first few failed operations' messages, to start debugging from.
	Failures []string `json:"sample_failures,omitempty"`
}

// Snapshot computes the report over elapsed; the caller fills in what the run was.
func (r *Recorder) Snapshot(elapsed time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Duration: elapsed.Seconds(), Endpoints: []Stats{}, Series: []Second{}}
	for name, s := range r.endpoints {
		rep.Endpoints = append(rep.Endpoints, s.stats(name, elapsed))
	}
	sort.Slice(rep.Endpoints, func(i, j int) bool { return rep.Endpoints[i].Endpoint < rep.Endpoints[j].Endpoint })
	rep.Overall = r.overall.stats("overall", elapsed)
	for i, s := range r.seconds {
		rep.Series = append(rep.Series, Second{
			Second: i, Requests: s.requests, Errors: s.errors,
			P50: ms(s.hist.ValueAtQuantile(50)), P99: ms(s.hist.ValueAtQuantile(99)), Max: ms(s.hist.Max()),
		})
	}
	return rep
}

func (s *series) stats(name string, elapsed time.Duration) Stats {
	st := Stats{Endpoint: name, Requests: s.requests, Errors: s.errors, Statuses: map[string]int64{}}
	for k, v := range s.statuses {
		st.Statuses[k] = v
	}
	if elapsed > 0 {
		st.Throughput = float64(s.requests) / elapsed.Seconds()
	}
	if s.requests > 0 {
		st.P50 = ms(s.hist.ValueAtQuantile(50))
		st.P90 = ms(s.hist.ValueAtQuantile(90))
		st.P99 = ms(s.hist.ValueAtQuantile(99))
		st.P999 = ms(s.hist.ValueAtQuantile(99.9))
		st.Max = ms(s.hist.Max())
		st.Mean = s.hist.Mean() / 1000
	}
	return st
}

// ms turns a histogram value (µs) into milliseconds. Max and the quantiles report the
// highest value equivalent to the recorded bucket, so they never understate.
func ms(us int64) float64 { return float64(us) / 1000 }

// ServerErrors counts answers that mean the product failed: 5xx and transport errors.
func (s Stats) ServerErrors() int64 {
	var n int64
	for k, v := range s.Statuses {
		if k == Transport || (len(k) == 3 && k[0] == '5') {
			n += v
		}
	}
	return n
}

// WriteTable prints the report for a person.
func (rep Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	load := fmt.Sprintf("%.1f operations/s (open model)", rep.Rate)
	if rep.Model == "closed" {
		load = fmt.Sprintf("%d connections (closed model)", rep.Concurrency)
	}
	fmt.Fprintf(w, "workload %s, %s, %d users, %.1f s, %d operations (%.1f/s)\n\n",
		rep.Workload, load, rep.Users, rep.Duration, rep.Operations, rep.OpsPerSecond)
	rows := append(slices.Clone(rep.Endpoints), rep.Overall)
	// Names read best left-aligned: padded to one width, right-aligning changes nothing.
	width := len("endpoint")
	for _, s := range rows {
		width = max(width, len(s.Endpoint))
	}
	fmt.Fprintf(tw, "%-*s\trequests\terrors\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t  statuses\n", width, "endpoint")
	for _, s := range rows {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t  %s\n",
			width, s.Endpoint, s.Requests, s.Errors, s.Throughput, s.P50, s.P90, s.P99, s.P999, s.Max, statuses(s.Statuses))
	}
	return tw.Flush()
}

func statuses(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%s:%d", k, m[k])
	}
	return out
}

// WriteJSON writes the whole report, time series included.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteCSV writes the per-second time series.
func (rep Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"second", "requests", "errors", "p50_ms", "p99_ms", "max_ms"})
	for _, s := range rep.Series {
		_ = cw.Write([]string{strconv.Itoa(s.Second), strconv.FormatInt(s.Requests, 10), strconv.FormatInt(s.Errors, 10),
			f(s.P50), f(s.P99), f(s.Max)})
	}
	cw.Flush()
	return cw.Error()
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
