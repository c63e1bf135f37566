package chartstest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// expectedCallers are the services that must be allowed to call svc in a release that
// deploys the services in deployed: the gateway for every service its route table
// names, the Consul API gateway ("api-gateway") for the gateway, and the internal routes
// of docs/contracts.md whose caller is deployed. optional are the callers
// docs/contracts.md lists that the release does not deploy: a service's chart names
// its callers whether or not they run beside it (a chart installed alone cannot know),
// and allowing a service that is not there opens nothing.
func expectedCallers(svc string, routed []string, internal map[string][]string, deployed map[string]bool) (want, optional []string) {
	if slices.Contains(routed, svc) && svc != "gateway" {
		want = append(want, "gateway")
	}
	if svc == "gateway" {
		want = append(want, "api-gateway")
	}
	for _, caller := range internal[svc] {
		switch {
		case slices.Contains(want, caller) || slices.Contains(optional, caller):
		case deployed[caller]:
			want = append(want, caller)
		default:
			optional = append(optional, caller)
		}
	}
	sort.Strings(want)
	return want, optional
}

// sameCallers reports whether got holds every caller of want, and besides them only
// callers of optional.
func sameCallers(got, want, optional []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) && !slices.Contains(optional, g) {
			return false
		}
	}
	return true
}

// TestIntentionsAllowExactlyTheCallsTheCodeMakes: with Consul Connect on, a "*" deny
// intention exists; each service the gateway's route table routes to allows the
// gateway; the gateway allows the Consul API gateway; and nothing else is allowed
// unless docs/contracts.md lists the call. Routes to a service the release does not
// deploy fail.
func TestIntentionsAllowExactlyTheCallsTheCodeMakes(t *testing.T) {
	routed := routedServices(t)
	internal := internalCallers(t)
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			deployed := map[string]bool{}
			for _, w := range workloads(t, r) {
				if svc, ok := appService(w); ok {
					deployed[svc] = true
				}
			}
			intentions := r.byKind("ServiceIntentions")
			if !r.connectInject() {
				if len(intentions) > 0 {
					t.Errorf("intentions rendered without Consul Connect")
				}
				return
			}
			apiGW := fmt.Sprint(r.value("global.consul.apiGatewayName", "instant-api-gateway"))
			allowed := map[string][]string{} // destination → allowed sources
			denyAll := false
			for _, o := range intentions {
				spec := o.Map["spec"].(map[string]any)
				dest := spec["destination"].(map[string]any)["name"].(string)
				for _, s := range spec["sources"].([]any) {
					src := s.(map[string]any)
					switch {
					case src["action"] == "allow":
						allowed[dest] = append(allowed[dest], src["name"].(string))
					case dest == "*" && src["name"] == "*" && src["action"] == "deny":
						denyAll = true
					default:
						t.Errorf("%s: source %v is neither an allow nor the default deny", o, src)
					}
				}
			}
			if r.Case.Umbrella && r.value("consul.defaultDenyIntention", true) == true && !denyAll {
				t.Error(`no "*" → "*" deny intention`)
			}
			for svc := range deployed {
				want, optional := expectedCallers(svc, routed, internal, deployed)
				for i, w := range want {
					if w == "api-gateway" {
						want[i] = apiGW
					}
				}
				got := slices.Clone(allowed[svc])
				sort.Strings(got)
				sort.Strings(want)
				if !sameCallers(got, want, optional) {
					t.Errorf("%s: intentions allow %v, the code needs exactly %v (and may name %v, callers docs/contracts.md lists that this release does not deploy)", svc, got, want, optional)
				}
			}
			for dest := range allowed {
				if !deployed[dest] && r.Case.Umbrella {
					t.Errorf("an intention allows traffic to %s, which this release does not deploy", dest)
				}
			}
			if r.Case.Umbrella {
				for _, svc := range routed {
					switch {
					case deployed[svc]:
					case runnable(svc) && r.value(svc+".enabled", true) != false:
						undelivered(t, "the gateway routes to %s, which this release does not deploy: its routes answer 503", svc)
					default:
						t.Logf("NOTE: the gateway routes to %s, which is not deployed (under construction or disabled): its routes answer 503", svc)
					}
				}
			}
		})
	}
}

// TestNetworkPoliciesMatchIntentions: every pod is selected by a NetworkPolicy with
// both policy types, and the public port of each service admits exactly the callers its
// intentions allow (so the two layers agree), while the internal port (metrics,
// pprof) never admits everyone.
func TestNetworkPoliciesMatchIntentions(t *testing.T) {
	routed := routedServices(t)
	internal := internalCallers(t)
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			var pols []networkingv1.NetworkPolicy
			for _, o := range r.byKind("NetworkPolicy") {
				var p networkingv1.NetworkPolicy
				mustDecode(t, o, &p)
				if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
					t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", p.Name, p.Spec.PolicyTypes)
				}
				pols = append(pols, p)
			}
			for _, w := range workloads(t, r) {
				var mine []networkingv1.NetworkPolicy
				for _, p := range pols {
					if selects(p.Spec.PodSelector.MatchLabels, w.Meta.Labels) {
						mine = append(mine, p)
					}
				}
				if w.Kind == "Pod" && w.Meta.Labels["app.kubernetes.io/component"] == "helm-test" {
					continue // a client: egress only, nothing calls it
				}
				if len(mine) == 0 {
					t.Errorf("%s: no NetworkPolicy selects its pods", w.Object)
					continue
				}
				svc, ok := appService(w)
				if !ok {
					continue
				}
				var callers []string
				for _, p := range mine {
					for _, rule := range p.Spec.Ingress {
						public := false
						for _, port := range rule.Ports {
							if port.Port != nil && port.Port.IntValue() == 8080 {
								public = true
							}
						}
						if len(rule.From) == 0 {
							t.Errorf("%s: an ingress rule admits every source", svc)
						}
						if !public {
							continue
						}
						for _, peer := range rule.From {
							if peer.PodSelector == nil {
								continue
							}
							l := peer.PodSelector.MatchLabels
							switch {
							case l["app.kubernetes.io/name"] != "":
								callers = append(callers, l["app.kubernetes.io/name"])
							case l["gateway.consul.hashicorp.com/name"] != "":
								callers = append(callers, "api-gateway")
							case clientComponents[l["app.kubernetes.io/component"]]:
								// the umbrella chart's own clients (the helm test, the load
								// generator): outside the mesh, so no intention names them.
								// They enter where a client does, nowhere else.
								if svc != "gateway" {
									t.Errorf("%s: admits the chart's client %v; clients enter through the gateway", svc, l)
								}
							default:
								t.Errorf("%s: unexpected peer %v", svc, l)
							}
						}
					}
				}
				deployed := map[string]bool{}
				for _, w2 := range workloads(t, r) {
					if s2, ok := appService(w2); ok {
						deployed[s2] = true
					}
				}
				want, optional := expectedCallers(svc, routed, internal, deployed)
				sort.Strings(callers)
				if !sameCallers(callers, want, optional) {
					t.Errorf("%s: NetworkPolicy admits %v on the public port, the intentions %v (and may name %v)", svc, callers, want, optional)
				}
			}
		})
	}
}

// clientComponents are the app.kubernetes.io/component labels of the umbrella chart's
// own clients: pods outside the mesh that enter like a client, through the public
// entry (or the gateway's public port when there is no API gateway). The gateway's
// NetworkPolicy may admit them besides its callers; no other service's may.
var clientComponents = map[string]bool{"helm-test": true, "load-generator": true}

func selects(sel, lbls map[string]string) bool {
	if len(sel) == 0 {
		return true
	}
	for k, v := range sel {
		if lbls[k] != v {
			return false
		}
	}
	return true
}

// TestAPIGatewayRoutesToTheGateway: the HTTPRoute attaches to the Gateway of class
// consul and sends everything to instant's gateway Service on its public port.
func TestAPIGatewayRoutesToTheGateway(t *testing.T) {
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella || r.value("apiGateway.enabled", false) != true {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			gws := r.byKind("Gateway")
			routes := r.byKind("HTTPRoute")
			if len(gws) != 1 || len(routes) != 1 {
				t.Fatalf("%d Gateways and %d HTTPRoutes, want one of each", len(gws), len(routes))
			}
			var gw gatewayv1.Gateway
			var rt gatewayv1.HTTPRoute
			mustDecode(t, gws[0], &gw)
			mustDecode(t, routes[0], &rt)
			if gw.Spec.GatewayClassName != "consul" {
				t.Errorf("Gateway class %q, want consul", gw.Spec.GatewayClassName)
			}
			if gw.Name != r.value("global.consul.apiGatewayName", "") {
				t.Errorf("Gateway %s is not global.consul.apiGatewayName, which intentions name", gw.Name)
			}
			if len(rt.Spec.ParentRefs) != 1 || string(rt.Spec.ParentRefs[0].Name) != gw.Name {
				t.Errorf("HTTPRoute parents %v, want the Gateway %s", rt.Spec.ParentRefs, gw.Name)
			}
			var backends []string
			for _, rule := range rt.Spec.Rules {
				for _, b := range rule.BackendRefs {
					backends = append(backends, fmt.Sprintf("%s:%d", b.Name, *b.Port))
				}
			}
			if strings.Join(backends, ",") != "gateway:8080" {
				t.Errorf("HTTPRoute backends %v, want gateway:8080", backends)
			}
		})
	}
}
