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
	profile := fs.String("profile", "", "named defaults: standard (mixed, 100 users, 200 req/s, 30s)")
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
	duration := fs.Duration("duration", 30*time.Second, "how long to drive the workload; 0 seeds only")
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
	if *users < 2 {
		return errors.New("-users must be at least 2")
	}
	*base, *inbox = strings.TrimRight(*base, "/"), strings.TrimRight(*inbox, "/")

	conns := *maxInFlight
	if *concurrency > 0 {
		conns = *concurrency
	}
	client := api.New(*base, *inbox, conns)
	defer client.Close()

	st, err := seed.Run(ctx, client, *base, *stateDir, seed.Config{
		Users: *users, FollowsPerUser: *follows, PostsPerUser: *posts, LikesPerPost: *likes,
		CommentsPerPost: *comments, Seed: *seedN, Prefix: *prefix, Workers: *seedWorkers, Log: stdout,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded: %d users, %d follows, %d posts (state in %s)\n",
		len(st.Users), st.FollowsDone, len(st.Posts), *stateDir)
	if *duration == 0 {
		return nil
	}
	// The run uses the first -users of the population, whatever a bigger earlier seed left.
	st.Users = st.Users[:*users]

	rep, err := load.Run(ctx, client, st, load.Config{
		Workload: *workload, Rate: *rate, Concurrency: *concurrency, Duration: *duration, MaxInFlight: *maxInFlight,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(stdout, "failure:", f)
	}
	if err := writeFile(*jsonOut, rep.WriteJSON); err != nil {
		return err
	}
	if err := writeFile(*csvOut, rep.WriteCSV); err != nil {
		return err
	}
	return check(rep, *maxErrRate)
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
