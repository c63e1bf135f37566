package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Registration describes how a service announces itself to its local Consul agent.
type Registration struct {
	ConsulAddr string // agent HTTP address, as in Config.ConsulAddr
	Token      string // ACL token with service:write; empty for none
	Name       string // service name the gateway resolves
	ID         string // unique per instance; default "<Name>-<Address>-<Port>"
	Address    string // address other processes reach this instance on
	Port       int
	// CheckPath is polled over HTTP by the agent (default "/readyz"), so an instance that
	// fails readiness — including while it drains on shutdown — leaves the healthy set.
	CheckPath     string
	CheckInterval time.Duration // default 10s
	// DeregisterAfter removes an instance whose check stays critical this long (default
	// 1m), so a crashed process that never deregistered does not linger in the catalog.
	DeregisterAfter time.Duration
	Tags            []string
}

// Register registers r with the local Consul agent, with an HTTP check on
// http://Address:Port+CheckPath. Re-registering the same ID replaces the old checks, so a
// restart is idempotent. The returned func deregisters; call it on graceful shutdown,
// before draining, so the gateway stops sending new requests.
func Register(ctx context.Context, r Registration) (deregister func(context.Context) error, err error) {
	switch {
	case r.ConsulAddr == "":
		return nil, errors.New("discovery: register: empty consul address")
	case r.Name == "":
		return nil, errors.New("discovery: register: empty service name")
	case r.Address == "":
		return nil, fmt.Errorf("discovery: register %s: empty address", r.Name)
	case r.Port < 1 || r.Port > 65535:
		return nil, fmt.Errorf("discovery: register %s: port %d out of range", r.Name, r.Port)
	case r.CheckInterval < 0 || r.DeregisterAfter < 0:
		return nil, fmt.Errorf("discovery: register %s: negative check durations", r.Name)
	}
	if r.ID == "" {
		r.ID = fmt.Sprintf("%s-%s-%d", r.Name, r.Address, r.Port)
	}
	if r.CheckPath == "" {
		r.CheckPath = "/readyz"
	}
	if !strings.HasPrefix(r.CheckPath, "/") {
		r.CheckPath = "/" + r.CheckPath
	}
	if r.CheckInterval == 0 {
		r.CheckInterval = 10 * time.Second
	}
	if r.DeregisterAfter == 0 {
		r.DeregisterAfter = time.Minute
	}

	client, err := api.NewClient(&api.Config{Address: r.ConsulAddr, Token: r.Token})
	if err != nil {
		return nil, fmt.Errorf("discovery: consul client: %w", err)
	}
	reg := &api.AgentServiceRegistration{
		ID:      r.ID,
		Name:    r.Name,
		Tags:    r.Tags,
		Address: r.Address,
		Port:    r.Port,
		Check: &api.AgentServiceCheck{
			HTTP:                           "http://" + net.JoinHostPort(r.Address, strconv.Itoa(r.Port)) + r.CheckPath,
			Interval:                       r.CheckInterval.String(),
			DeregisterCriticalServiceAfter: r.DeregisterAfter.String(),
		},
	}
	agent := client.Agent()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := agent.ServiceRegisterOpts(reg, opts); err != nil {
		return nil, fmt.Errorf("discovery: register %s as %s: %w", r.Name, r.ID, err)
	}
	id := r.ID
	return func(ctx context.Context) error {
		if err := agent.ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("discovery: deregister %s: %w", id, err)
		}
		return nil
	}, nil
}
