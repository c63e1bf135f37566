// Package discovery tells the gateway where a service's instances are, and lets a service
// put itself in Consul's catalog.
//
// Three modes cover the three ways instant runs (DESIGN.md §2, step 6):
//
//   - static: addresses from the environment, for everything on one machine;
//   - consul: Consul health queries kept fresh by blocking queries, answered from memory so
//     a request never waits on a Consul round trip;
//   - dns: Kubernetes service names, which kube-proxy or the Connect sidecar balances.
//
// Every mode answers Instances from memory; only the consul mode does any network work,
// and it does it in the background.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrNoInstances is returned when no healthy instance of a service is known. The gateway
// maps it to 503: the service may come back, the request was not at fault.
var ErrNoInstances = errors.New("discovery: no instances")

// Resolver answers the current instances (host:port) of a named service. Implementations
// answer from memory so they can sit on the request path.
type Resolver interface {
	// Instances returns the known healthy instances of service. The slice is the caller's
	// to keep or modify. It returns an error wrapping ErrNoInstances when there are none.
	Instances(service string) ([]string, error)
	// Close stops background work. Instances keeps answering with what it last knew.
	Close() error
}

// Config selects and configures a resolver. It is plain data so a service's config struct
// can fill it from the environment.
type Config struct {
	// Mode is "static", "consul" or "dns".
	Mode string
	// Static lists addresses for static mode, e.g.
	// "auth=127.0.0.1:8081,127.0.0.1:8091;email=127.0.0.1:8083".
	Static string
	// ConsulAddr is the Consul agent's HTTP address, "127.0.0.1:8500" or "http://consul:8500".
	ConsulAddr string
	// ConsulToken is the ACL token used for health queries; empty for none.
	ConsulToken string
	// ConsulInitialWait bounds how long New waits for the first answer from Consul
	// (default 3s). A slow Consul only delays start-up; it does not fail it, because the
	// watchers keep trying and fill the lists when Consul answers.
	ConsulInitialWait time.Duration
	// DNSSuffix is appended to the service name in dns mode, e.g.
	// ".instant.svc.cluster.local". Empty means the bare name (same namespace).
	DNSSuffix string
	// DNSPort is the port appended in dns mode (default 80).
	DNSPort int
	// Services are the services the resolver watches; consul mode runs one blocking
	// query per service, so it must know them up front.
	Services []string
}

// New builds the resolver cfg.Mode names. In consul mode it starts one watcher per service,
// stopped by Close or by ctx ending, and waits up to cfg.ConsulInitialWait for the first
// lists.
func New(ctx context.Context, cfg Config, log *slog.Logger) (Resolver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Mode {
	case "static":
		m, err := ParseStatic(cfg.Static)
		if err != nil {
			return nil, fmt.Errorf("discovery: static: %w", err)
		}
		return staticResolver(m), nil
	case "dns":
		return newDNS(cfg)
	case "consul":
		return newConsul(ctx, cfg, log)
	default:
		return nil, fmt.Errorf("discovery: unknown mode %q (want static, consul or dns)", cfg.Mode)
	}
}

// ParseStatic parses "name=host:port,host:port;name=host:port" into a map from service
// name to addresses. Whitespace around items and a trailing ";" are tolerated; anything
// else malformed is an error naming the offending part, because a typo here otherwise
// surfaces as a 503 at the first request.
func ParseStatic(s string) (map[string][]string, error) {
	out := make(map[string][]string)
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, addrs, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("entry %q: want name=host:port[,host:port...]", entry)
		}
		if name == "" {
			return nil, fmt.Errorf("entry %q: empty service name", entry)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("entry %q: service %q listed twice", entry, name)
		}
		var list []string
		for addr := range strings.SplitSeq(addrs, ",") {
			addr = strings.TrimSpace(addr)
			if err := checkHostPort(addr); err != nil {
				return nil, fmt.Errorf("service %q: %w", name, err)
			}
			list = append(list, addr)
		}
		out[name] = list
	}
	if len(out) == 0 {
		return nil, errors.New("no services listed")
	}
	return out, nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: empty host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be 1-65535", addr)
	}
	return nil
}

// staticResolver serves the addresses it was built with.
type staticResolver map[string][]string

func (s staticResolver) Instances(service string) ([]string, error) {
	list := s[service]
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %q is not in the static list", ErrNoInstances, service)
	}
	return append([]string(nil), list...), nil
}

func (staticResolver) Close() error { return nil }

// dnsResolver names the Kubernetes Service of each service. It does no lookups: the name
// stays stable while pods come and go, and the cluster balances behind it.
type dnsResolver struct {
	suffix string
	port   string
}

func newDNS(cfg Config) (dnsResolver, error) {
	if cfg.DNSSuffix != "" && !strings.HasPrefix(cfg.DNSSuffix, ".") {
		return dnsResolver{}, fmt.Errorf("discovery: dns suffix %q must start with '.'", cfg.DNSSuffix)
	}
	port := cfg.DNSPort
	if port == 0 {
		port = 80
	}
	if port < 1 || port > 65535 {
		return dnsResolver{}, fmt.Errorf("discovery: dns port %d out of range", port)
	}
	return dnsResolver{suffix: cfg.DNSSuffix, port: strconv.Itoa(port)}, nil
}

func (d dnsResolver) Instances(service string) ([]string, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: empty service name", ErrNoInstances)
	}
	return []string{net.JoinHostPort(service+d.suffix, d.port)}, nil
}

func (dnsResolver) Close() error { return nil }
