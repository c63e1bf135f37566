package chartstest

import (
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
)

// typed maps apiVersion/kind to the Go type the API server decodes it into. A kind the
// charts render must be here (or be a custom resource with a CRD, see crd_test.go):
// an object nothing can check is an error.
var typed = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Pod":                                 func() any { return &corev1.Pod{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
	// Gateway API: typed here and validated against the module's CRDs in crd_test.go.
	"gateway.networking.k8s.io/v1/Gateway":      func() any { return &gatewayv1.Gateway{} },
	"gateway.networking.k8s.io/v1/HTTPRoute":    func() any { return &gatewayv1.HTTPRoute{} },
	"gateway.networking.k8s.io/v1/GatewayClass": func() any { return &gatewayv1.GatewayClass{} },
	"monitoring.coreos.com/v1/ServiceMonitor":   func() any { return &monitoringv1.ServiceMonitor{} },
}

// clusterScoped are the kinds above without a namespace.
var clusterScoped = map[string]bool{
	"v1/Namespace": true,
	"gateway.networking.k8s.io/v1/GatewayClass": true,
}

// validateMeta checks metadata as the API server does on create (name format, labels,
// annotations), after filling the namespace the request would carry.
func validateMeta(obj map[string]any, namespaced bool) field.ErrorList {
	meta, _, err := schemaobjectmeta.GetObjectMeta(obj, false)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), "", err.Error())}
	}
	if meta == nil {
		return field.ErrorList{field.Required(field.NewPath("metadata"), "")}
	}
	if namespaced && meta.Namespace == "" {
		meta.Namespace = namespace
	}
	return apimachineryvalidation.ValidateObjectMeta(meta, namespaced, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

func gvk(o Object) string {
	if o.APIGroup == "" {
		return o.Version + "/" + o.Kind
	}
	return o.APIGroup + "/" + o.Version + "/" + o.Kind
}

// decodeStrict decodes an object the way the API server does: case-sensitive field
// names, unknown and duplicate fields rejected, types enforced.
func decodeStrict(o Object, into any) error {
	strict, err := kjson.UnmarshalStrict(o.JSON, into, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

// TestObjectsDecodeStrictly decodes every rendered object into its Go type.
func TestObjectsDecodeStrictly(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, o := range r.Objects {
				if crdGroups[o.APIGroup] {
					continue // custom resources: TestCustomResourcesMatchTheirCRDs
				}
				mk, ok := typed[gvk(o)]
				if !ok {
					t.Errorf("%s: %s has no Go type or CRD to check it against; add one to typed", o, gvk(o))
					continue
				}
				if err := decodeStrict(o, mk()); err != nil {
					t.Errorf("%s: %v", o, err)
				}
				for _, e := range validateMeta(o.Map, !clusterScoped[gvk(o)]) {
					t.Errorf("%s: %v", o, e)
				}
				if o.Kind == "Service" {
					for _, e := range validation.IsDNS1035Label(o.Name) {
						t.Errorf("%s: a Service name must be a DNS-1035 label: %s", o, e)
					}
				}
			}
		})
	}
}
