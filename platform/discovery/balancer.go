package discovery

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Balancer spreads calls over a service's instances in turn. Round robin needs no health
// bookkeeping of its own: the resolver already drops unhealthy instances, and callers
// retry elsewhere with Next. Counters are atomic so picking takes no lock on the hot path.
type Balancer struct {
	r        Resolver
	counters sync.Map // service name -> *atomic.Uint64
}

// NewBalancer returns a Balancer over r.
func NewBalancer(r Resolver) *Balancer { return &Balancer{r: r} }

// Pick returns the next instance of service.
func (b *Balancer) Pick(service string) (string, error) {
	list, err := b.r.Instances(service)
	if err != nil {
		return "", err
	}
	return list[b.next(service)%uint64(len(list))], nil
}

// Next returns the next instance of service other than exclude, for retrying a request
// that failed to connect to exclude. It returns an error wrapping ErrNoInstances when
// exclude is the only instance, so the caller fails fast instead of hitting it again.
func (b *Balancer) Next(service, exclude string) (string, error) {
	list, err := b.r.Instances(service)
	if err != nil {
		return "", err
	}
	others := list[:0]
	for _, addr := range list {
		if addr != exclude {
			others = append(others, addr)
		}
	}
	if len(others) == 0 {
		return "", fmt.Errorf("%w: no %q instance other than %s", ErrNoInstances, service, exclude)
	}
	return others[b.next(service)%uint64(len(others))], nil
}

func (b *Balancer) next(service string) uint64 {
	c, ok := b.counters.Load(service)
	if !ok {
		c, _ = b.counters.LoadOrStore(service, new(atomic.Uint64))
	}
	return c.(*atomic.Uint64).Add(1) - 1
}
