package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"instant/tools/loadgen/internal/api"
	"instant/tools/loadgen/internal/load"
	"instant/tools/loadgen/internal/report"
	"instant/tools/loadgen/internal/seed"
)

// sweepConcurrency is the closed model's users when -sweep is given no -concurrency:
// enough to keep every service busy on a small machine.
const sweepConcurrency = 32

// sweepStep is one workload's two runs: its saturation, and the open model at half it.
type sweepStep struct {
	Workload   string        `json:"workload"`
	Saturation report.Report `json:"saturation"`
	Half       report.Report `json:"half_load"`
}

// runSweep measures each workload's saturation throughput (closed model) and then its
// latency at half that rate (open model, so the latencies are the ones users would see
// at that load), and prints one summary table. Workloads that write change the data the
// later ones read; the default order runs the reads first.
func runSweep(ctx context.Context, c *api.Client, st *seed.State, cfg load.Config, workloads []string,
	out outputs, stdout io.Writer) error {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = sweepConcurrency
	}
	for _, w := range workloads {
		if !slices.Contains(load.Workloads, w) {
			return fmt.Errorf("unknown workload %q in -sweep-workloads", w)
		}
	}
	var steps []sweepStep
	var failed []error
	for _, w := range workloads {
		step := sweepStep{Workload: w}
		sat := cfg
		sat.Workload, sat.Rate = w, 0
		rep, err := load.Run(ctx, c, st, sat)
		if err != nil {
			return err
		}
		step.Saturation = rep
		fmt.Fprintf(stdout, "\n== %s: saturation\n", w)
		if err := (outputs{maxErrRate: out.maxErrRate}).report(rep, stdout); err != nil {
			failed = append(failed, fmt.Errorf("%s at saturation: %w", w, err))
		}
		if rep.OpsPerSecond <= 0 {
			failed = append(failed, fmt.Errorf("%s: no operation finished at saturation", w))
			continue
		}
		half := cfg
		half.Workload, half.Concurrency, half.Rate = w, 0, rep.OpsPerSecond/2
		rep, err = load.Run(ctx, c, st, half)
		if err != nil {
			return err
		}
		step.Half = rep
		fmt.Fprintf(stdout, "\n== %s: half of saturation\n", w)
		if err := (outputs{maxErrRate: out.maxErrRate}).report(rep, stdout); err != nil {
			failed = append(failed, fmt.Errorf("%s at half load: %w", w, err))
		}
		steps = append(steps, step)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	fmt.Fprintf(stdout, "\nsweep: saturation with %d users (closed model), then half that rate (open model), %s each\n\n",
		cfg.Concurrency, cfg.Duration)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-20s\tsat. ops/s\tsat. req/s\tsat. p99 ms\thalf ops/s\thalf p50 ms\thalf p99 ms\thalf p99.9 ms\terrors\t\n", "workload")
	for _, s := range steps {
		fmt.Fprintf(tw, "%-20s\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t\n", s.Workload,
			s.Saturation.OpsPerSecond, s.Saturation.Overall.Throughput, s.Saturation.Overall.P99,
			s.Half.OpsPerSecond, s.Half.Overall.P50, s.Half.Overall.P99, s.Half.Overall.P999,
			s.Saturation.Overall.Errors+s.Half.Overall.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeFile(out.json, func(w io.Writer) error { return writeJSON(w, map[string]any{"sweep": steps}) }); err != nil {
		return err
	}
	if len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, err := range failed {
			msgs[i] = err.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
