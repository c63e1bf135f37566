package chartstest

import (
	"context"
	"errors"
	"fmt"
	"instant/platform/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crdDirEnv names the directory with the Strimzi and consul-k8s CRDs (its strimzi/ and
// consul/ subdirectories), absolute or relative to the repository root. CI sets it;
// without it the CRD checks skip loudly, and under CI=true they fail.
const crdDirEnv = "INSTANT_CRDS_DIR"

// crdGroups are the API groups whose objects are custom resources, validated against
// their CRDs rather than decoded into Go types.
var crdGroups = map[string]bool{
	"kafka.strimzi.io":          true,
	"consul.hashicorp.com":      true,
	"gateway.networking.k8s.io": false, // typed (decode_test.go) and validated here too
}

// crdVersion is one served version of a CRD, ready to validate objects the way the
// API server's custom resource handler does.
type crdVersion struct {
	crd        string
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
	namespaced bool
}

var (
	crdOnce sync.Once
	crdSet  map[string]*crdVersion // "group/version/Kind"
	crdErr  error
)

// skipOrFail skips a test loudly on a developer's machine and fails it in CI, as every
// test of the project does when a prerequisite is missing (testenv.Unavailable).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	testenv.Unavailable(t, fmt.Sprintf(format, args...), errors.New("prerequisite missing"))
}

// loadCRDs reads every CRD the charts' custom resources need: Strimzi and consul-k8s
// from $INSTANT_CRDS_DIR, Gateway API from the sigs.k8s.io/gateway-api module (the
// version whose Go types decode_test.go uses).
func loadCRDs(t *testing.T) map[string]*crdVersion {
	t.Helper()
	dir := os.Getenv(crdDirEnv)
	if dir == "" {
		skipOrFail(t, "%s is not set: cannot validate Strimzi and Consul objects against their CRDs (make charts-check sets it)", crdDirEnv)
	}
	if !filepath.IsAbs(dir) {
		// Relative to the repository root, as CI passes it (../shared/crds).
		dir = filepath.Join(repoRootNoT(), dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("%s=%s is not a directory: %v", crdDirEnv, dir, err)
	}
	crdOnce.Do(func() {
		var files []string
		for _, sub := range []string{"strimzi", "consul"} {
			m, _ := filepath.Glob(filepath.Join(dir, sub, "*.yaml"))
			if len(m) == 0 {
				crdErr = fmt.Errorf("no CRDs in %s", filepath.Join(dir, sub))
				return
			}
			files = append(files, m...)
		}
		gw, err := gatewayAPICRDDir()
		if err != nil {
			crdErr = err
			return
		}
		m, _ := filepath.Glob(filepath.Join(gw, "*.yaml"))
		files = append(files, m...)
		crdSet, crdErr = readCRDs(files)
	})
	if crdErr != nil {
		t.Fatal(crdErr)
	}
	return crdSet
}

// gatewayAPICRDDir is config/crd/standard of the sigs.k8s.io/gateway-api module.
func gatewayAPICRDDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = filepath.Join(repoRootNoT(), "deploy", "chartstest")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate sigs.k8s.io/gateway-api: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard"), nil
}

func readCRDs(files []string) (map[string]*crdVersion, error) {
	out := map[string]*crdVersion{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, doc := range strings.Split(string(b), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var v1 apiextensionsv1.CustomResourceDefinition
			if err := yaml.Unmarshal([]byte(doc), &v1); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if v1.Kind != "CustomResourceDefinition" {
				continue // e.g. Gateway API's ValidatingAdmissionPolicy
			}
			var crd apiextensions.CustomResourceDefinition
			if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &crd, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, ver := range crd.Spec.Versions {
				if !ver.Served {
					continue
				}
				props := crd.Spec.Validation
				if ver.Schema != nil {
					props = ver.Schema
				}
				if props == nil || props.OpenAPIV3Schema == nil {
					return nil, fmt.Errorf("%s %s: no schema", crd.Name, ver.Name)
				}
				s, err := structuralschema.NewStructural(props.OpenAPIV3Schema)
				if err != nil {
					return nil, fmt.Errorf("%s %s: structural schema: %w", crd.Name, ver.Name, err)
				}
				val, _, err := apiservervalidation.NewSchemaValidator(props.OpenAPIV3Schema)
				if err != nil {
					return nil, fmt.Errorf("%s %s: validator: %w", crd.Name, ver.Name, err)
				}
				key := crd.Spec.Group + "/" + ver.Name + "/" + crd.Spec.Names.Kind
				out[key] = &crdVersion{
					crd: crd.Name, structural: s, validator: val,
					cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
					namespaced: crd.Spec.Scope == apiextensions.NamespaceScoped,
				}
			}
		}
	}
	return out, nil
}

// validateCR validates obj as the API server would on create: unknown fields (those the
// schema does not preserve) rejected, metadata checked, defaults applied, then the
// OpenAPI schema, list types and CEL rules.
func (v *crdVersion) validateCR(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	u := runtime.DeepCopyJSON(obj)
	unknown := pruning.PruneWithOptions(u, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(unknown)
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), "", "unknown field"))
	}
	if err, _ := schemaobjectmeta.CoerceWithOptions(nil, u, v.structural, true, schemaobjectmeta.CoerceOptions{}); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validateMeta(u, v.namespaced)...)
	errs = append(errs, schemaobjectmeta.Validate(context.Background(), nil, u, v.structural, true)...)
	structuraldefaulting.Default(u, v.structural)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u, v.validator)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, u)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, u, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	return errs
}

// TestCustomResourcesMatchTheirCRDs validates every Strimzi, Consul and Gateway API
// object the charts render against the CRD of its apiVersion.
func TestCustomResourcesMatchTheirCRDs(t *testing.T) {
	crds := loadCRDs(t)
	seen := map[string]bool{}
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, o := range r.Objects {
				if _, isCR := crdGroups[o.APIGroup]; !isCR {
					continue
				}
				v, ok := crds[gvk(o)]
				if !ok {
					t.Errorf("%s: no CRD serves %s (Strimzi 1.x serves only kafka.strimzi.io/v1)", o, gvk(o))
					continue
				}
				seen[gvk(o)] = true
				for _, e := range v.validateCR(o.Map) {
					t.Errorf("%s: %v", o, e)
				}
			}
		})
	}
	// The optional objects must have been reached by some case.
	for _, want := range []string{
		"kafka.strimzi.io/v1/Kafka", "kafka.strimzi.io/v1/KafkaNodePool", "kafka.strimzi.io/v1/KafkaTopic", "kafka.strimzi.io/v1/KafkaUser",
		"consul.hashicorp.com/v1alpha1/ServiceIntentions", "consul.hashicorp.com/v1alpha1/ServiceDefaults",
		"gateway.networking.k8s.io/v1/Gateway", "gateway.networking.k8s.io/v1/HTTPRoute", "gateway.networking.k8s.io/v1/GatewayClass",
	} {
		if !seen[want] {
			t.Errorf("no case renders a %s: the CRD check never ran on it", want)
		}
	}
}

// TestCRDValidationRejects proves the validator is not a rubber stamp: a misspelt
// field, a wrong type and a broken CEL rule are each rejected.
func TestCRDValidationRejects(t *testing.T) {
	crds := loadCRDs(t)
	cases := map[string]struct {
		gvk string
		obj string
	}{
		"unknown field": {"kafka.strimzi.io/v1/KafkaTopic", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaTopic","metadata":{"name":"t"},"spec":{"partitons":3}}`},
		"wrong type":    {"kafka.strimzi.io/v1/KafkaTopic", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaTopic","metadata":{"name":"t"},"spec":{"partitions":"three"}}`},
		"enum":          {"kafka.strimzi.io/v1/KafkaNodePool", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaNodePool","metadata":{"name":"p"},"spec":{"replicas":1,"roles":["broker"],"storage":{"type":"tape"}}}`},
		"cel rule":      {"kafka.strimzi.io/v1/KafkaUser", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaUser","metadata":{"name":"u"},"spec":{"authentication":{"type":"scram-sha-512","validityDays":3}}}`},
		"intention":     {"consul.hashicorp.com/v1alpha1/ServiceIntentions", `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceIntentions","metadata":{"name":"i"},"spec":{"destination":{"name":"auth"},"sources":[{"name":"gateway","acton":"allow"}]}}`},
		"bad name":      {"kafka.strimzi.io/v1/KafkaTopic", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaTopic","metadata":{"name":"Not_A_Name"},"spec":{"partitions":3}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v := crds[c.gvk]
			if v == nil {
				t.Fatalf("no CRD for %s", c.gvk)
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(c.obj), &m); err != nil {
				t.Fatal(err)
			}
			if errs := v.validateCR(m); len(errs) == 0 {
				t.Errorf("accepted %s", c.obj)
			} else {
				t.Logf("rejected: %v", errs.ToAggregate())
			}
		})
	}
}
