// Command loadgen is instant's load generator. It seeds a population through the public
// API (users signed up with mailed codes, a power-law follow graph, posts with real
// photos, likes, comments), remembers it in a state directory for the next run, drives
// one workload at a fixed rate or concurrency, and reports per endpoint: requests,
// errors by status, throughput and latency percentiles from an HDR histogram.
//
// The gateway's rate limits must be raised for a load run; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"instant/tools/loadgen/internal/api"
	"instant/tools/loadgen/internal/load"
	"instant/tools/loadgen/internal/report"
	"instant/tools/loadgen/internal/seed"
)

// version is stamped at build time (-X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// profiles are named sets of defaults; flags given explicitly win over them.
var profiles = map[string]map[string]string{
	// standard is what `make bench` runs: the DeathStarBench mix on a small network.
	"standard": {"users": "100", "workload": load.Mixed, "rate": "200", "duration": "30s"},
}

const usageIntro = `loadgen seeds instant through its API and drives a workload against the gateway.

The gateway limits each user and address to 50 requests/s and sign-in codes to 20 a
minute per address: start the stack with the limits raised, e.g.

  bin/devstack -set gateway.RATE_LIMIT_USER_PER_SECOND=1000000 \
    -set gateway.RATE_LIMIT_IP_PER_SECOND=1000000 \
    -set gateway.RATE_LIMIT_AUTH_IP_PER_MINUTE=1000000 \
    -set gateway.RATE_LIMIT_AUTH_EMAIL_PER_HOUR=1000000

(make bench does this). Seeding waits out 429s, slowly; a workload counts them as errors.

Flags:
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, usageIntro)
		fs.PrintDefaults()
	}
	base := fs.String("base", or(getenv("BASE_URL"), "http://127.0.0.1:8080"), "gateway URL (env BASE_URL)")
	inbox := fs.String("inbox", or(getenv("INBOX_URL"), "http://127.0.0.1:8025"), "web inbox URL the sign-in codes are read from (env INBOX_URL)")
	inboxAPI := fs.String("inbox-api", or(getenv("INBOX_API"), api.InboxDevstack), "the inbox's API: devstack (make run's inbox) or mailpit (env INBOX_API)")
	s3ConnectTo := fs.String("s3-connect-to", "", "host:port storage uploads connect to, keeping the presigned URL (inside a cluster: the store's Service)")
	profile := fs.String("profile", "", "named defaults: standard (mixed, 100 users, 200 operations/s, 30s)")
	users := fs.Int("users", 20, "users to seed")
	follows := fs.Int("follows", 10, "accounts each seeded user follows (Zipf-distributed targets)")
	posts := fs.Int("posts", 2, "posts with a photo per seeded user")
	likes := fs.Int("likes", 2, "likes per seeded post")
	comments := fs.Int("comments", 1, "comments per seeded post")
	seedN := fs.Uint64("seed", 1, "random seed of the follow graph and of who likes and comments what")
	prefix := fs.String("prefix", "loadgen", "seeded emails are <prefix>.<n>@example.com, usernames <prefix>_<n>")
	stateDir := fs.String("state", ".loadgen", "directory of the seeding state; a re-run reuses what it lists")
	seedWorkers := fs.Int("seed-workers", 8, "requests in flight while seeding")
	workload := fs.String("workload", load.Mixed, "one of "+strings.Join(load.Workloads, ", "))
	rate := fs.Float64("rate", 50, "operations per second, open model (latency from the scheduled start)")
	concurrency := fs.Int("concurrency", 0, "closed model with this many users instead of -rate (to find saturation)")
	duration := fs.Duration("duration", 30*time.Second, "how long to drive the workload (with -forever: each round; with -sweep: each step); 0 seeds only")
	forever := fs.Bool("forever", false, "repeat the workload in rounds of -duration until stopped, reporting each round; a failed round is logged, not fatal")
	listen := fs.String("listen", "", "serve /livez, /readyz (200 once seeded) and Prometheus /metrics on this address")
	sweep := fs.Bool("sweep", false, "for each of -sweep-workloads: saturation in the closed model (-concurrency, default 32), then the open model at half of it")
	sweepWorkloads := fs.String("sweep-workloads", strings.Join(load.Workloads, ","), "comma-separated workloads -sweep measures, in order")
	maxInFlight := fs.Int("max-inflight", 1024, "open model: most operations in flight at once")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	csvOut := fs.String("csv", "", "write the per-second time series as CSV to this file")
	maxErrRate := fs.Float64("max-error-rate", 0, "highest tolerated share of 5xx and transport errors (0: any fails the run)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *profile != "" {
		p, ok := profiles[*profile]
		if !ok {
			return fmt.Errorf("unknown profile %q", *profile)
		}
		for name, v := range p {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return err
				}
			}
		}
	}
	if set["rate"] && set["concurrency"] {
		return errors.New("-rate (open model) and -concurrency (closed model) exclude each other")
	}
	if *forever && *sweep {
		return errors.New("-forever and -sweep exclude each other")
	}
	if (*forever || *sweep) && *duration <= 0 {
		return errors.New("-forever and -sweep need a -duration > 0")
	}
	if *sweep && set["rate"] {
		return errors.New("-sweep finds its own rates: drop -rate")
	}
	if *users < 2 {
		return errors.New("-users must be at least 2")
	}
	*base, *inbox = strings.TrimRight(*base, "/"), strings.TrimRight(*inbox, "/")

	conns := *maxInFlight
	if *concurrency > 0 {
		conns = *concurrency
	}
	client, err := api.New(api.Options{Base: *base, Inbox: *inbox, InboxAPI: *inboxAPI, Conns: conns,
		StorageConnectTo: *s3ConnectTo})
	if err != nil {
		return err
	}
	defer client.Close()

	if *forever {
		model := fmt.Sprintf("%g operations/s", *rate)
		if *concurrency > 0 {
			model = fmt.Sprintf("%d users (closed model)", *concurrency)
		}
		fmt.Fprintf(stdout, "loadgen %s: %s at %s in rounds of %s against %s\n", version, *workload, model, *duration, *base)
	}
	var live *liveness
	if *listen != "" {
		live = newLiveness()
		stopServing, err := live.serve(*listen, stdout)
		if err != nil {
			return err
		}
		defer stopServing()
	}

	seedCfg := seed.Config{
		Users: *users, FollowsPerUser: *follows, PostsPerUser: *posts, LikesPerPost: *likes,
		CommentsPerPost: *comments, Seed: *seedN, Prefix: *prefix, Workers: *seedWorkers, Log: stdout,
	}
	seedRun := func() (*seed.State, error) {
		st, err := seed.Run(ctx, client, *base, *stateDir, seedCfg)
		if err != nil {
			return nil, err
		}
		// A run uses the first -users of the population, whatever a bigger earlier seed left.
		st.Users = st.Users[:*users]
		return st, nil
	}
	st, err := seedRun()
	for *forever && err != nil && ctx.Err() == nil {
		// The stack may still be starting (a generator deployed beside it): wait, retry.
		fmt.Fprintf(stdout, "seeding failed, retrying in %s: %v\n", seedRetry, err)
		select {
		case <-ctx.Done():
		case <-time.After(seedRetry):
			st, err = seedRun()
		}
	}
	if err != nil {
		if *forever && ctx.Err() != nil {
			return nil // stopped while waiting for the stack
		}
		return err
	}
	fmt.Fprintf(stdout, "seeded: %d users, %d follows, %d posts (state in %s)\n",
		len(st.Users), st.FollowsDone, len(st.Posts), *stateDir)
	if live != nil {
		live.ready.Store(true)
	}
	if *duration == 0 {
		return nil
	}

	cfg := load.Config{
		Workload: *workload, Rate: *rate, Concurrency: *concurrency, Duration: *duration, MaxInFlight: *maxInFlight,
	}
	if live != nil {
		cfg.Observe = live
	}
	out := outputs{json: *jsonOut, csv: *csvOut, maxErrRate: *maxErrRate}
	switch {
	case *sweep:
		return runSweep(ctx, client, st, cfg, strings.Split(*sweepWorkloads, ","), out, stdout)
	case *forever:
		return runForever(ctx, client, st, cfg, seedRun, live, out, stdout)
	}
	rep, err := load.Run(ctx, client, st, cfg)
	if err != nil {
		return err
	}
	return out.report(rep, stdout)
}

// seedRetry is how long a continuous run waits before seeding again after a failure.
const seedRetry = 10 * time.Second

// outputs are where a finished run's report goes besides stdout, and when it fails.
type outputs struct {
	json, csv  string
	maxErrRate float64
}

// report prints rep, writes its files and fails when the server failed too often.
func (o outputs) report(rep report.Report, stdout io.Writer) error {
	fmt.Fprintln(stdout)
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(stdout, "failure:", f)
	}
	if err := writeFile(o.json, rep.WriteJSON); err != nil {
		return err
	}
	if err := writeFile(o.csv, rep.WriteCSV); err != nil {
		return err
	}
	return check(rep, o.maxErrRate)
}

// runForever drives the workload in rounds until ctx ends. Each round first re-checks
// the population (sessions expire; a restarted stack may have lost accounts), then runs
// for cfg.Duration and reports. A failed round is counted and logged, and the next one
// starts: a continuous generator reports trouble, it does not crash-loop on it.
func runForever(ctx context.Context, c *api.Client, st *seed.State, cfg load.Config,
	reseed func() (*seed.State, error), live *liveness, out outputs, stdout io.Writer) error {
	for round := 1; ctx.Err() == nil; round++ {
		if round > 1 {
			next, err := reseed()
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				fmt.Fprintf(stdout, "round %d: seeding failed, retrying in %s: %v\n", round, seedRetry, err)
				live.round(false)
				select {
				case <-ctx.Done():
				case <-time.After(seedRetry):
				}
				continue
			}
			st = next
		}
		rep, err := load.Run(ctx, c, st, cfg)
		if err != nil {
			return err // a configuration the workload cannot run: no round would
		}
		if ctx.Err() != nil {
			break // a round cut short by the stop is not reported
		}
		fmt.Fprintf(stdout, "\nround %d\n", round)
		err = out.report(rep, stdout)
		live.round(err == nil)
		if err != nil {
			fmt.Fprintf(stdout, "round %d failed: %v\n", round, err)
		}
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// check fails the run when the server failed more often than tolerated. 4xx answers are
// reported but are the generator's or the limits' doing, not the product failing.
func check(rep report.Report, maxRate float64) error {
	bad := rep.Overall.ServerErrors()
	if rep.Overall.Requests == 0 {
		return errors.New("no request completed")
	}
	share := float64(bad) / float64(rep.Overall.Requests)
	if bad > 0 && share > maxRate {
		return fmt.Errorf("%d of %d requests failed with 5xx or a transport error (%.3f%% > -max-error-rate %.3f%%)",
			bad, rep.Overall.Requests, 100*share, 100*maxRate)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
