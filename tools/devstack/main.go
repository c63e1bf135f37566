// Command devstack runs the whole of instant on one machine: `make run` builds the
// service binaries and starts this. Every service runs as its own process with the env
// contract of the cluster; Redis, Kafka, SMTP and S3 are embedded unless REDIS_URL,
// KAFKA_BROKERS, SMTP_HOST or S3_ENDPOINT point at real servers, and each service gets a
// SQLite file unless <SERVICE>_DATABASE_URL names a database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"instant/tools/devstack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// stopTimeout bounds the whole shutdown: each service gets its grace period within it.
const stopTimeout = 30 * time.Second

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stdout)
	binDir := fs.String("bin", "bin", "directory holding the service binaries")
	dataDir := fs.String("data", ".run", "directory for SQLite files, Kafka data, the identity secret and the mail log")
	gatewayAddr := fs.String("gateway", "127.0.0.1:8080", "gateway listen address; port 0 picks free ports for everything")
	inboxAddr := fs.String("inbox", "127.0.0.1:8025", "web inbox listen address")
	var sets serviceSettings
	fs.Var(&sets, "set", "extra setting for one service, SERVICE.NAME=VALUE (repeatable), e.g. gateway.RATE_LIMIT_USER_PER_SECOND=5000")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	// The stack's own log lines go to the same terminal as the services' output, under
	// a prefix of their own, through one lock so lines never interleave.
	out := &lockedWriter{w: stdout}
	log := slog.New(slog.NewJSONHandler(&prefixWriter{w: out, prefix: "devstack | "}, nil))

	// Taken before the stack starts: the embedded S3 server moves this process's
	// working directory while it runs.
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	services := stack.DefaultServices()
	if err := sets.apply(services); err != nil {
		return err
	}
	s, err := stack.Start(ctx, stack.Options{
		BinDir:      *binDir,
		DataDir:     *dataDir,
		Services:    services,
		GatewayAddr: *gatewayAddr,
		InboxAddr:   *inboxAddr,
		Getenv:      getenv,
		Log:         log,
		Stdout:      out,
	})
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	if _, err := io.WriteString(out, banner(s, wd)); err != nil {
		log.Warn("print banner", "err", err)
	}

	<-ctx.Done()
	_, _ = io.WriteString(out, "\nstopping instant...\n")
	// The signal that ended ctx must not cut the shutdown short.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		return fmt.Errorf("devstack: stop: %w", err)
	}
	return nil
}

// banner tells a newcomer where everything is and what to try first.
func banner(s *stack.Stack, wd string) string {
	var b strings.Builder
	b.WriteString("\ninstant is running\n")
	fmt.Fprintf(&b, "  gateway   %-24s (try: curl %s/health)\n", s.GatewayURL, s.GatewayURL)
	if s.InboxURL != "" {
		fmt.Fprintf(&b, "  inbox     %-24s (sign-in codes land here and in this terminal)\n", s.InboxURL)
	} else {
		fmt.Fprintf(&b, "  inbox     none: mail goes to %s\n", s.SMTPAddr)
	}
	fmt.Fprintf(&b, "  redis     %s\n", where(s.EmbeddedRedis, s.RedisURL))
	fmt.Fprintf(&b, "  kafka     %s\n", where(s.EmbeddedKafka, strings.Join(s.Brokers, ",")))
	fmt.Fprintf(&b, "  smtp      %s\n", where(s.EmbeddedSMTP, s.SMTPAddr))
	if s.S3Endpoint != "" {
		fmt.Fprintf(&b, "  s3        %s\n", where(s.EmbeddedS3, s.S3Endpoint))
	}
	fmt.Fprintf(&b, "  data      %s\n", relative(wd, s.DataDir))
	b.WriteString("Ctrl-C stops everything.\n\n")
	return b.String()
}

func where(embedded bool, addr string) string {
	if embedded {
		return "embedded at " + addr
	}
	return "external " + redactUserinfo(addr)
}

// redactUserinfo hides a password in a URL the banner prints (redis://:secret@host).
func redactUserinfo(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	return scheme + "://***@" + rest[at+1:]
}

func relative(wd, dir string) string {
	if rel, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return dir
}

// lockedWriter serialises the stack's and the services' output onto one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter puts a prefix before each write; slog's handler writes one whole record,
// a line, per call.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// serviceSettings collects -set flags: SERVICE.NAME=VALUE, added to that service's env
// after the contract, so a person can tune one service (a rate limit, a log level)
// without editing code.
type serviceSettings []string

func (s *serviceSettings) String() string { return strings.Join(*s, " ") }

func (s *serviceSettings) Set(v string) error {
	svc, kv, ok := strings.Cut(v, ".")
	name, _, hasEq := strings.Cut(kv, "=")
	if !ok || svc == "" || !hasEq || name == "" {
		return fmt.Errorf("want SERVICE.NAME=VALUE, got %q", v)
	}
	*s = append(*s, v)
	return nil
}

func (s serviceSettings) apply(services []stack.Service) error {
	for _, v := range s {
		svc, kv, _ := strings.Cut(v, ".")
		name, value, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(services, func(x stack.Service) bool { return x.Name == svc })
		if i < 0 {
			return fmt.Errorf("-set %s: no service named %q", v, svc)
		}
		if services[i].Env == nil {
			services[i].Env = map[string]string{}
		}
		services[i].Env[name] = value
	}
	return nil
}
