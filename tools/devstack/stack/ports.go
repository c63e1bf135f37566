package stack

import (
	"fmt"
	"net"
	"strconv"
)

// plan is where one service will listen.
type plan struct {
	svc          Service
	httpAddr     string // HTTP_ADDR
	internalAddr string // INTERNAL_ADDR
}

// planPorts gives every service its two addresses. Under fixed ports the public service
// takes the gateway address and the others their Port (or the next number in the
// table), so that `make run` always puts everything at the same, documented place.
// Otherwise every address is a free port picked now.
func planPorts(services []Service, gatewayAddr string, fixed bool) ([]plan, error) {
	gwHost, gwPort, err := splitHostPort(gatewayAddr)
	if err != nil {
		return nil, fmt.Errorf("stack: gateway address: %w", err)
	}
	if !fixed {
		return planFreePorts(services, gwHost)
	}
	plans, err := planFixedPorts(services, gwHost, gwPort)
	if err != nil {
		return nil, err
	}
	// A fixed port that is busy is most often a stack that is still running; a clear
	// message beats a service that dies on bind (or, worse, a stale process answering
	// the readiness probe in its place).
	for _, p := range plans {
		for _, addr := range []string{p.httpAddr, p.internalAddr} {
			if err := checkFree(addr); err != nil {
				return nil, fmt.Errorf("stack: %s: %w (is another `make run` still running?)", p.svc.Name, err)
			}
		}
	}
	return plans, nil
}

// planFixedPorts applies the port table: Service.Port, or one past the highest port
// given out (the gateway's included) for a service without one; INTERNAL_ADDR at +1000.
func planFixedPorts(services []Service, gwHost string, gwPort int) ([]plan, error) {
	plans := make([]plan, 0, len(services))
	taken := make(map[int]string)
	take := func(port int, what string) error {
		if port <= 0 || port > 65535 {
			return fmt.Errorf("stack: %s: port %d out of range", what, port)
		}
		if other, dup := taken[port]; dup {
			return fmt.Errorf("stack: port %d wanted by both %s and %s", port, other, what)
		}
		taken[port] = what
		return nil
	}
	highest := gwPort
	for _, svc := range services {
		if !svc.Public && svc.Port > highest {
			highest = svc.Port
		}
	}
	for _, svc := range services {
		host, port := "127.0.0.1", svc.Port
		switch {
		case svc.Public:
			host, port = gwHost, gwPort
		case port == 0:
			highest++
			port = highest
		}
		if err := take(port, svc.Name); err != nil {
			return nil, err
		}
		if err := take(port+internalPortOffset, svc.Name+" (internal)"); err != nil {
			return nil, err
		}
		plans = append(plans, plan{
			svc:          svc,
			httpAddr:     net.JoinHostPort(host, strconv.Itoa(port)),
			internalAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port+internalPortOffset)),
		})
	}
	return plans, nil
}

// planFreePorts asks the kernel for two free ports per service, holding every listener
// open until all are chosen so no two services get the same one. The ports are free
// when released; a test machine that hands them to someone else in the moment before
// the child binds makes that child fail to start, loudly.
func planFreePorts(services []Service, gwHost string) ([]plan, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	free := func(host string) (string, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", fmt.Errorf("stack: pick a free port: %w", err)
		}
		lns = append(lns, ln)
		return ln.Addr().String(), nil
	}
	plans := make([]plan, 0, len(services))
	for _, svc := range services {
		host := "127.0.0.1"
		if svc.Public {
			host = gwHost
		}
		httpAddr, err := free(host)
		if err != nil {
			return nil, err
		}
		internalAddr, err := free("127.0.0.1")
		if err != nil {
			return nil, err
		}
		plans = append(plans, plan{svc: svc, httpAddr: httpAddr, internalAddr: internalAddr})
	}
	return plans, nil
}

func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s is not free: %w", addr, err)
	}
	return ln.Close()
}

// splitHostPort parses host:port, defaulting an empty host to 127.0.0.1 so a bare
// ":8080" never opens the product to the whole network by accident.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// dialable turns a listen address into one a client can dial: a wildcard host
// (0.0.0.0, ::) becomes loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
