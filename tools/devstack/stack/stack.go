// Package stack runs the whole of instant on one machine: every service as its own
// process, with the same binaries and environment contract as in the cluster, plus
// embedded stand-ins (Redis, Kafka, an SMTP sink with a web inbox, S3) wherever no real
// server is configured.
//
// It is a library rather than only a command so that `make run` (through the devstack
// command) and the end-to-end test start the product the same way: what the test walks
// through is what a newcomer sees.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Options say where the binaries and the data live, which services to start and which
// real servers (through Getenv) replace the embedded stand-ins.
type Options struct {
	// BinDir holds one executable per service, named after it (gateway, auth, email, ...).
	BinDir string
	// DataDir holds everything that should survive a restart: a SQLite file per service,
	// the Kafka data directory, the identity secret and the mail log.
	DataDir string
	// Services to start, in order; DefaultServices gives the standard list.
	Services []Service
	// GatewayAddr is where the public service listens. A fixed port (127.0.0.1:8080)
	// selects the fixed port table every service and stand-in use under `make run`;
	// port 0 picks free ports for everything, so tests can run side by side.
	GatewayAddr string
	// InboxAddr is where the web inbox listens. Empty means port 8025 under fixed ports
	// and a free port otherwise.
	InboxAddr string
	// Getenv reads the overrides that switch a stand-in for a real server: REDIS_URL,
	// KAFKA_BROKERS, SMTP_HOST (and the other SMTP_* settings), S3_ENDPOINT (and the
	// other S3_* settings), <SERVICE>_DATABASE_URL, IDENTITY_SECRET, LOG_LEVEL. It also
	// supplies PATH and HOME for the children.
	// Nil reads nothing, so every stand-in is embedded.
	Getenv func(string) string
	// Log receives the stack's own events. Nil discards them.
	Log *slog.Logger
	// Stdout receives every child's output and the inbox's one line per message, each
	// line prefixed with its source ("auth     | {...}"). Nil discards it.
	Stdout io.Writer
	// ReadyTimeout bounds the wait for each service's /readyz. Zero means 30s.
	ReadyTimeout time.Duration
	// StopTimeout is how long each service gets to exit after SIGTERM before it is
	// killed, when the context given to Stop allows that long. Zero means 10s.
	StopTimeout time.Duration
}

// Service describes one service process and the infrastructure it needs. The list is
// data so that adding a service to the stack is one line in DefaultServices.
type Service struct {
	// Name is the binary's name in BinDir and the service's name in discovery.
	Name string
	// Port is the service's HTTP port under the fixed port table (`make run`); its
	// INTERNAL_ADDR (metrics, pprof) uses Port+1000. Zero takes the port after the
	// highest one already given out. A public service listens on Options.GatewayAddr.
	Port int

	NeedsDB    bool // gets DATABASE_URL
	NeedsRedis bool // gets REDIS_URL
	NeedsKafka bool // gets KAFKA_BROKERS
	NeedsSMTP  bool // gets SMTP_HOST, SMTP_PORT, SMTP_TLS, SMTP_FROM
	// NeedsS3 gets S3_ENDPOINT, S3_PUBLIC_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY,
	// S3_SECRET_KEY and S3_USE_TLS. The embedded S3 server runs only when a service
	// needs it.
	NeedsS3 bool
	// Public marks the gateway: it listens on GatewayAddr and gets the discovery table
	// of every other service, CORS and cookie settings.
	Public bool
	// Env is added after the contract, so it can override any of it.
	Env map[string]string
}

// DefaultServices is the standard product. The gateway comes last: services start in
// order and stop in reverse, so the front door opens only when everything behind it is
// ready and closes first, draining requests while the services behind it still answer.
func DefaultServices() []Service {
	return []Service{
		{Name: "auth", Port: 8081, NeedsDB: true, NeedsRedis: true, NeedsKafka: true},
		{Name: "email", Port: 8083, NeedsDB: true, NeedsKafka: true, NeedsSMTP: true},
		{Name: "files", Port: 8084, NeedsKafka: true, NeedsS3: true},
		{Name: "posts", Port: 8085, NeedsDB: true, NeedsKafka: true},
		{Name: "comments", Port: 8086, NeedsDB: true, NeedsKafka: true},
		{Name: "likes", Port: 8087, NeedsDB: true, NeedsKafka: true},
		{Name: "follow", Port: 8088, NeedsDB: true, NeedsKafka: true},
		{Name: "feed", Port: 8089, NeedsDB: true, NeedsRedis: true, NeedsKafka: true},
		{Name: "gateway", Public: true, NeedsRedis: true},
	}
}

// Fixed ports of the stand-ins under `make run`. Redis and Kafka sit 10000 above their
// usual ports so that a real server a developer runs on the usual port is never
// shadowed, and never makes `make run` fail: pointing REDIS_URL or KAFKA_BROKERS at it
// is how to use it.
const (
	fixedRedisPort     = 16379
	fixedKafkaPort     = 19092
	fixedSMTPPort      = 2525
	fixedS3Port        = 9000
	fixedInboxPort     = 8025
	internalPortOffset = 1000
)

const (
	defaultReadyTimeout = 30 * time.Second
	defaultStopTimeout  = 10 * time.Second
)

// Stack is a running product. Its exported fields tell a person or a test where things are.
type Stack struct {
	GatewayURL string   // http://host:port of the public service
	InboxURL   string   // web inbox; empty when mail goes to a real SMTP server
	RedisURL   string   // redis://host:port/0 (embedded) or REDIS_URL as given
	Brokers    []string // Kafka seed brokers
	SMTPAddr   string   // host:port the services send mail to
	DataDir    string   // absolute
	// S3Endpoint is where clients on this machine reach S3 (http://127.0.0.1:9000 when
	// embedded, S3_PUBLIC_ENDPOINT or S3_ENDPOINT as given); empty when no service needs S3.
	S3Endpoint string
	// Mail is the embedded SMTP sink's store; nil when mail goes to a real SMTP server.
	Mail *Inbox

	// EmbeddedRedis, EmbeddedKafka, EmbeddedSMTP and EmbeddedS3 say which stand-ins run
	// in process.
	EmbeddedRedis, EmbeddedKafka, EmbeddedSMTP, EmbeddedS3 bool

	log      *slog.Logger
	out      *syncWriter
	services map[string]*child
	children []*child // start order

	redis   *miniredis.Miniredis
	kafka   *kfake.Cluster
	smtp    *mailSink
	s3      *embeddedS3
	webSrv  *http.Server
	webDone chan struct{}

	// workDir is where the stack was started: the children run there, whatever the
	// embedded S3 server does to this process's working directory.
	workDir string

	// stopping silences the "exited unexpectedly" alarm once Stop has begun.
	stopping    atomic.Bool
	stopOnce    sync.Once
	stopErr     error
	stopTimeout time.Duration
	// cancelProcs kills every child still running; Stop calls it only after each child
	// had its chance to exit on SIGTERM.
	cancelProcs context.CancelFunc
}

// Start brings up the stand-ins, then each service in order, waiting for its /readyz
// before starting the next. On failure everything already started is stopped again.
//
// ctx bounds Start only: the children outlive it and end with Stop, so that a caller's
// Ctrl-C context can drive a graceful Stop instead of killing them outright.
func Start(ctx context.Context, o Options) (*Stack, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	fixed, err := fixedPortsFor(o.GatewayAddr)
	if err != nil {
		return nil, err
	}

	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("stack: working directory: %w", err)
	}
	procCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{
		workDir:     wd,
		DataDir:     o.DataDir,
		log:         o.Log,
		out:         &syncWriter{w: o.Stdout},
		services:    make(map[string]*child),
		stopTimeout: o.StopTimeout,
		cancelProcs: cancel,
	}
	if err := s.start(ctx, procCtx, o, fixed); err != nil {
		// Cleanup gets its own deadline: ctx may be what failed.
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), o.StopTimeout+5*time.Second)
		defer stopCancel()
		if stopErr := s.Stop(stopCtx); stopErr != nil {
			s.log.Error("cleanup after failed start", "err", stopErr)
		}
		return nil, err
	}
	return s, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.BinDir == "" {
		return o, errors.New("stack: BinDir is required")
	}
	if o.DataDir == "" {
		return o, errors.New("stack: DataDir is required")
	}
	if len(o.Services) == 0 {
		return o, errors.New("stack: no services to start")
	}
	seen := make(map[string]bool, len(o.Services))
	public := 0
	for _, svc := range o.Services {
		if svc.Name == "" {
			return o, errors.New("stack: a service has no name")
		}
		if seen[svc.Name] {
			return o, fmt.Errorf("stack: service %q listed twice", svc.Name)
		}
		seen[svc.Name] = true
		if svc.Public {
			public++
		}
	}
	if public > 1 {
		return o, errors.New("stack: more than one public service; only the gateway listens on GatewayAddr")
	}
	var err error
	if o.BinDir, err = filepath.Abs(o.BinDir); err != nil {
		return o, fmt.Errorf("stack: bin dir: %w", err)
	}
	// Absolute, so every child finds its SQLite file whatever its working directory.
	if o.DataDir, err = filepath.Abs(o.DataDir); err != nil {
		return o, fmt.Errorf("stack: data dir: %w", err)
	}
	if o.GatewayAddr == "" {
		o.GatewayAddr = "127.0.0.1:0"
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = defaultReadyTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = defaultStopTimeout
	}
	return o, nil
}

// fixedPortsFor reports whether the gateway address names a port, which selects the
// fixed port table; port 0 selects free ports everywhere.
func fixedPortsFor(gatewayAddr string) (bool, error) {
	_, port, err := splitHostPort(gatewayAddr)
	if err != nil {
		return false, fmt.Errorf("stack: gateway address: %w", err)
	}
	return port != 0, nil
}

func (s *Stack) start(ctx, procCtx context.Context, o Options, fixed bool) error {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("stack: create data dir: %w", err)
	}
	secret, err := identitySecret(o.DataDir, o.Getenv)
	if err != nil {
		return err
	}
	if err := s.startRedis(o, fixed); err != nil {
		return err
	}
	if err := s.startKafka(ctx, o, fixed); err != nil {
		return err
	}
	var kafkaEnv map[string]string
	if !s.EmbeddedKafka {
		kafkaEnv = externalKafka(o.Getenv)
	}
	smtpEnv, err := s.startMail(o, fixed)
	if err != nil {
		return err
	}
	s3Env, err := s.startS3(o, fixed)
	if err != nil {
		return err
	}

	plans, err := planPorts(o.Services, o.GatewayAddr, fixed)
	if err != nil {
		return err
	}
	in := infra{
		redisURL:       s.RedisURL,
		brokers:        s.Brokers,
		kafka:          kafkaEnv,
		smtp:           smtpEnv,
		s3:             s3Env,
		identitySecret: secret,
		logLevel:       cmpOr(o.Getenv("LOG_LEVEL"), "info"),
		dataDir:        o.DataDir,
		getenv:         o.Getenv,
	}
	width := prefixWidth(o.Services)
	for _, p := range plans {
		if p.svc.Public {
			s.GatewayURL = "http://" + dialable(p.httpAddr)
		}
	}
	for _, p := range plans {
		env, err := serviceEnv(p, plans, in, s.GatewayURL)
		if err != nil {
			return err
		}
		c, err := startChild(procCtx, s, p, env, filepath.Join(o.BinDir, p.svc.Name), width)
		if err != nil {
			return err
		}
		s.children = append(s.children, c)
		s.services[p.svc.Name] = c
		if err := c.waitReady(ctx, o.ReadyTimeout); err != nil {
			return err
		}
		s.log.Info("service ready", "service", p.svc.Name, "addr", p.httpAddr)
	}
	return nil
}

func (s *Stack) startRedis(o Options, fixed bool) error {
	if u := o.Getenv("REDIS_URL"); u != "" {
		s.RedisURL = u
		return nil
	}
	m := miniredis.NewMiniRedis()
	// miniredis is made for unit tests and by default never expires keys on its own.
	// A running product needs TTLs to pass in real time: sessions time out, rate-limit
	// windows reset.
	m.ClockTTL(true)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(portOrZero(fixed, fixedRedisPort)))
	if err := m.StartAddr(addr); err != nil {
		return fmt.Errorf("stack: embedded redis on %s (set REDIS_URL to use a real server): %w", addr, err)
	}
	s.redis = m
	s.EmbeddedRedis = true
	s.RedisURL = "redis://" + m.Addr() + "/0"
	return nil
}

// StopRedis closes the embedded Redis, so a test can watch the product through a Redis
// outage (the gateway must answer 503, never 401). It fails when Redis is external.
func (s *Stack) StopRedis() error {
	if s.redis == nil {
		return errors.New("stack: redis is external (REDIS_URL); it cannot be stopped from here")
	}
	s.redis.Close()
	return nil
}

// RestartRedis brings the embedded Redis back on the same address with its data, the
// second half of an outage test.
func (s *Stack) RestartRedis() error {
	if s.redis == nil {
		return errors.New("stack: redis is external (REDIS_URL); it cannot be restarted from here")
	}
	if err := s.redis.Restart(); err != nil {
		return fmt.Errorf("stack: restart redis: %w", err)
	}
	return nil
}

// ServiceURL is the direct http://host:port of a service, bypassing the gateway; empty
// for a service the stack does not run.
func (s *Stack) ServiceURL(name string) string {
	c, ok := s.services[name]
	if !ok {
		return ""
	}
	return "http://" + dialable(c.httpAddr)
}

// InternalURL is the http://host:port of a service's internal listener (metrics, pprof).
func (s *Stack) InternalURL(name string) string {
	c, ok := s.services[name]
	if !ok {
		return ""
	}
	return "http://" + dialable(c.internalAddr)
}

// Stop sends SIGTERM to every service in reverse start order, waiting for each to exit
// before the next so the gateway drains while the services behind it still answer. A
// service that outlives its grace period (or ctx) is killed. Then the stand-ins close;
// embedded Kafka writes its state to DataDir as it closes. Stop is safe to call twice.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Stack) stop(ctx context.Context) error {
	s.stopping.Store(true)
	var errs []error
	for i := len(s.children) - 1; i >= 0; i-- {
		if err := s.children[i].stop(ctx, s.stopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	s.cancelProcs()

	if s.webSrv != nil {
		if err := s.webSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stack: stop web inbox: %w", err))
		}
		<-s.webDone
	}
	if s.smtp != nil {
		if err := s.smtp.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Mail != nil {
		if err := s.Mail.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.stopS3(ctx); err != nil {
		errs = append(errs, err)
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	s.log.Info("stack stopped")
	return errors.Join(errs...)
}

func portOrZero(fixed bool, port int) int {
	if fixed {
		return port
	}
	return 0
}

func cmpOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
