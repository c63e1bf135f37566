// Package service holds what every instant process does the same way around its own
// handlers: the common part of its configuration, its logger and metrics registry, and
// serving with Consul self-registration and a graceful, draining shutdown.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"instant/platform/config"
	"instant/platform/discovery"
	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/metrics"
	"instant/platform/web"
)

// Base is the configuration every service shares; service configs embed it.
type Base struct {
	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:":8080"`
	InternalAddr    string        `env:"INTERNAL_ADDR" envDefault:":9090"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	DrainDelay      time.Duration `env:"DRAIN_DELAY" envDefault:"0s"`
	IdentitySecret  string        `env:"IDENTITY_SECRET,required" secret:"true"`

	// Self-registration in Consul, for VMs or clusters without connect-inject (which
	// registers pods itself).
	ConsulRegister  bool   `env:"CONSUL_REGISTER" envDefault:"false"`
	ConsulAddr      string `env:"CONSUL_HTTP_ADDR"`
	ConsulToken     string `env:"CONSUL_HTTP_TOKEN" secret:"true"`
	ServiceAddress  string `env:"SERVICE_ADDRESS"` // the address Consul's health check and peers reach
	ServiceInstance string `env:"SERVICE_INSTANCE"`
}

// Discovery says how a process finds the instances of other services. Services that
// call others (and the gateway) embed it.
type Discovery struct {
	DiscoveryMode   string `env:"DISCOVERY_MODE" envDefault:"static"`
	DiscoveryStatic string `env:"DISCOVERY_STATIC"`
	DNSSuffix       string `env:"DISCOVERY_DNS_SUFFIX"`
	DNSPort         int    `env:"DISCOVERY_DNS_PORT" envDefault:"8080"`
}

// Kafka is how a service reaches Kafka and signs in to it. Services that produce or
// consume embed it and hand events.Conn(cfg.Kafka) to every producer and consumer they
// build, so all of them, and the readiness pings, use the same settings.
//
// Its fields are events.Conn's, in the same order, which makes the conversion legal
// without this package importing events (and with it a database driver into the
// gateway, which reads no Kafka settings); kafka_test.go keeps the two in step.
type Kafka struct {
	// Brokers are the seed brokers: "a:9092, b:9092," is a list of two.
	Brokers []string `env:"KAFKA_BROKERS,required" envSeparator:","`
	// SASLMechanism is empty (no authentication), SCRAM-SHA-512 (Strimzi's KafkaUsers),
	// SCRAM-SHA-256 or PLAIN; a mechanism needs the username and the password.
	SASLMechanism string `env:"KAFKA_SASL_MECHANISM"`
	SASLUsername  string `env:"KAFKA_SASL_USERNAME"`
	SASLPassword  string `env:"KAFKA_SASL_PASSWORD" secret:"true"`
	// TLS turns on TLS to the brokers, verified against the PEM certificates in
	// TLSCAFile (empty: the system's roots) for the broker's host name, or for
	// TLSServerName when set.
	TLS           bool   `env:"KAFKA_TLS" envDefault:"false"`
	TLSCAFile     string `env:"KAFKA_TLS_CA_FILE"`
	TLSServerName string `env:"KAFKA_TLS_SERVER_NAME"`
}

// ValidateKafka drops the empty entries of KAFKA_BROKERS and checks the settings as
// events.Conn will, naming the variables. The CA file is read when the first producer
// or consumer is built, at start.
func (k *Kafka) ValidateKafka() error {
	brokers := k.Brokers[:0]
	for _, b := range k.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	k.Brokers = brokers
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS must name at least one broker"))
	}
	// The mechanisms events.Conn knows (kafka_test.go checks that the two agree).
	switch mech := strings.ToUpper(strings.TrimSpace(k.SASLMechanism)); mech {
	case "":
		if k.SASLUsername != "" || k.SASLPassword != "" {
			errs = append(errs, errors.New("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM"))
		}
	case "SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN":
		if k.SASLUsername == "" || k.SASLPassword == "" {
			errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM=%s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", mech))
		}
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM %q: want SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, or empty for none", k.SASLMechanism))
	}
	if !k.TLS && (k.TLSCAFile != "" || k.TLSServerName != "") {
		errs = append(errs, errors.New("KAFKA_TLS_CA_FILE and KAFKA_TLS_SERVER_NAME need KAFKA_TLS=true"))
	}
	return errors.Join(errs...)
}

// Resolver builds the resolver for the named services.
func (d Discovery) Resolver(ctx context.Context, b Base, services []string, log *slog.Logger) (discovery.Resolver, error) {
	r, err := discovery.New(ctx, discovery.Config{
		Mode: d.DiscoveryMode, Static: d.DiscoveryStatic,
		ConsulAddr: b.ConsulAddr, ConsulToken: b.ConsulToken,
		DNSSuffix: d.DNSSuffix, DNSPort: d.DNSPort,
		Services: services,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return r, nil
}

// ValidateDiscovery checks the mode and what it needs.
func (d Discovery) ValidateDiscovery(b Base) error {
	switch d.DiscoveryMode {
	case "static":
		if d.DiscoveryStatic == "" {
			return errors.New("DISCOVERY_MODE=static needs DISCOVERY_STATIC")
		}
	case "consul":
		if b.ConsulAddr == "" {
			return errors.New("DISCOVERY_MODE=consul needs CONSUL_HTTP_ADDR")
		}
	case "dns":
	default:
		return fmt.Errorf("DISCOVERY_MODE must be static, consul or dns, not %q", d.DiscoveryMode)
	}
	return nil
}

// ValidateBase checks the shared fields; service Validate methods call it.
func (b Base) ValidateBase() error {
	if len(b.IdentitySecret) < identity.MinSecretLen {
		return errors.New("IDENTITY_SECRET must be at least 32 bytes")
	}
	if b.ConsulRegister && (b.ConsulAddr == "" || b.ServiceAddress == "") {
		return errors.New("CONSUL_REGISTER needs CONSUL_HTTP_ADDR and SERVICE_ADDRESS")
	}
	return nil
}

// Process is a service's shared runtime: logger, metrics and health.
type Process struct {
	Name     string
	Log      *slog.Logger
	Registry *prometheus.Registry
	HTTP     *metrics.HTTP
	Health   *web.Health
}

// Start loads T (which embeds Base) from getenv and builds the process around it; the
// configuration is logged once with secrets masked.
func Start[T any](name string, getenv func(string) string, stdout io.Writer, base func(*T) *Base) (T, *Process, error) {
	cfg, err := config.Load[T](getenv)
	if err != nil {
		return cfg, nil, err
	}
	b := base(&cfg)
	log := logging.New(stdout, b.LogLevel, name)
	log.Info("config", config.Masked(cfg)...)
	// go-redis reports connection trouble through a process-wide logger that writes
	// plain text to stderr; route it into the JSON log instead.
	redis.SetLogger(redisLogger{log})
	reg := metrics.NewRegistry()
	return cfg, &Process{Name: name, Log: log, Registry: reg, HTTP: metrics.NewHTTP(reg), Health: web.NewHealth()}, nil
}

// Router returns the service's chi router with the standard edge middleware, then mw,
// and health routes.
func (p *Process) Router(mw ...func(http.Handler) http.Handler) *chi.Mux {
	return web.NewRouter(p.Log, p.HTTP, p.Health, mw...)
}

// Serve runs the public and internal servers until ctx ends, registered in Consul while
// up when configured. OnListen (tests) learns the bound addresses.
func (p *Process) Serve(ctx context.Context, b Base, h http.Handler, onListen func(public, internal net.Addr)) error {
	srv := &web.Server{
		Addr: b.HTTPAddr, InternalAddr: b.InternalAddr, Handler: h,
		Internal: web.InternalHandler(p.Registry, p.Health), Health: p.Health, Log: p.Log,
		ShutdownTimeout: b.ShutdownTimeout, DrainDelay: b.DrainDelay,
	}
	var deregister func(context.Context) error
	srv.OnListen = func(pub, intl net.Addr) {
		if onListen != nil {
			onListen(pub, intl)
		}
		if !b.ConsulRegister {
			return
		}
		_, portStr, _ := net.SplitHostPort(pub.String())
		port, _ := strconv.Atoi(portStr)
		id := b.ServiceInstance
		if id == "" {
			id = fmt.Sprintf("%s-%s-%d", p.Name, b.ServiceAddress, port)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := discovery.Register(rctx, discovery.Registration{
			ConsulAddr: b.ConsulAddr, Token: b.ConsulToken, Name: p.Name, ID: id,
			Address: b.ServiceAddress, Port: port, CheckPath: "/readyz",
		})
		if err != nil {
			// Not fatal: the instance still serves; Consul simply does not route to it.
			p.Log.Error("consul registration failed", "err", err)
			return
		}
		deregister = d
		p.Log.Info("registered in consul", "id", id)
	}
	err := srv.Run(ctx)
	if deregister != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if derr := deregister(dctx); derr != nil {
			p.Log.Warn("consul deregistration failed", "err", derr)
		}
	}
	return err
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
