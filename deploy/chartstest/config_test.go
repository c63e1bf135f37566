package chartstest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// EnvVar is one variable a service's config struct reads (caarlos0/env tags).
type EnvVar struct {
	Name       string
	Required   bool   // env:"NAME,required" (or notEmpty)
	HasDefault bool   // envDefault:"…"
	Default    string // the envDefault
	Secret     bool   // secret:"true" (platform/config masks it)
	Field      string // Go field, for messages
}

// serviceEnv parses services/<name>/internal/config/*.go with go/ast and returns every
// env var the service's Config reads, including what it embeds from platform/service
// (Base, Discovery, Kafka).
// A struct embedding or nesting something the parser cannot follow fails the test, so
// a variable cannot hide from the chart checks.
func serviceEnv(t testing.TB, service string) map[string]EnvVar {
	t.Helper()
	root := repoRoot(t)
	cfgDir := filepath.Join(root, "services", service, "internal", "config")
	structs, err := parseStructs(cfgDir)
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	base, err := parseStructs(filepath.Join(root, "platform", "service"))
	if err != nil {
		t.Fatalf("platform/service: %v", err)
	}
	cfg, ok := structs["Config"]
	if !ok {
		t.Fatalf("%s: no Config struct in %s", service, cfgDir)
	}
	out := map[string]EnvVar{}
	var walk func(st *ast.StructType, where string)
	walk = func(st *ast.StructType, where string) {
		for _, f := range st.Fields.List {
			tag := ""
			if f.Tag != nil {
				tag, _ = strconv.Unquote(f.Tag.Value)
			}
			if len(f.Names) == 0 { // embedded
				switch typ := f.Type.(type) {
				case *ast.SelectorExpr:
					// platform/service's shared parts (Base, Discovery, …).
					if x, ok := typ.X.(*ast.Ident); ok && x.Name == "service" && base[typ.Sel.Name] != nil {
						walk(base[typ.Sel.Name], "platform/service."+typ.Sel.Name)
						continue
					}
				case *ast.Ident:
					if s, ok := structs[typ.Name]; ok {
						walk(s, where+"."+typ.Name)
						continue
					}
				}
				t.Fatalf("%s: %s embeds %s, which the env parser cannot follow; teach config_test.go", service, where, exprString(f.Type))
			}
			st := reflect.StructTag(tag)
			env, hasEnv := st.Lookup("env")
			if !hasEnv {
				if ident, ok := f.Type.(*ast.Ident); ok && structs[ident.Name] != nil {
					t.Fatalf("%s: %s.%s is a nested struct; teach config_test.go about envPrefix", service, where, f.Names[0].Name)
				}
				continue
			}
			parts := strings.Split(env, ",")
			v := EnvVar{Name: parts[0], Field: where + "." + f.Names[0].Name}
			for _, p := range parts[1:] {
				if p == "required" || p == "notEmpty" {
					v.Required = true
				}
			}
			v.Default, v.HasDefault = st.Lookup("envDefault")
			v.Secret = st.Get("secret") == "true"
			if prev, dup := out[v.Name]; dup {
				t.Fatalf("%s: %s is read by both %s and %s", service, v.Name, prev.Field, v.Field)
			}
			out[v.Name] = v
		}
	}
	walk(cfg, service+"/internal/config.Config")
	if len(out) == 0 {
		t.Fatalf("%s: Config reads no env vars?", service)
	}
	return out
}

func parseStructs(dir string) (map[string]*ast.StructType, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*ast.StructType{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					out[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	return out, nil
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	}
	return fmt.Sprintf("%T", e)
}

// routedServices are the services the gateway's route table sends requests to,
// parsed from services/gateway/internal/gateway/routes.go (Service: "…" in Table).
func routedServices(t testing.TB) []string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "services", "gateway", "internal", "gateway", "routes.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Service" {
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				seen[s] = true
			} else {
				t.Fatalf("%s: a route's Service is not a string literal; teach config_test.go", path)
			}
		}
		return true
	})
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("%s: no routes found", path)
	}
	return out
}

func TestConfigParser(t *testing.T) {
	for _, s := range chartedServices(t) {
		env := serviceEnv(t, s)
		var names []string
		for n, v := range env {
			flag := ""
			if v.Required {
				flag += " required"
			}
			if v.Secret {
				flag += " secret"
			}
			names = append(names, n+flag)
		}
		sort.Strings(names)
		t.Logf("%s reads: %s", s, strings.Join(names, ", "))
		if _, ok := env["IDENTITY_SECRET"]; !ok {
			t.Errorf("%s: platform/service.Base not followed (no IDENTITY_SECRET)", s)
		}
		// One way to reach Kafka: the brokers come with the settings to sign in to them.
		if b, ok := env["KAFKA_BROKERS"]; ok {
			for _, name := range []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_TLS", "KAFKA_TLS_CA_FILE"} {
				if _, ok := env[name]; !ok {
					t.Errorf("%s: %s reads KAFKA_BROKERS but not %s: embed platform/service.Kafka", s, b.Field, name)
				}
			}
			if !env["KAFKA_SASL_PASSWORD"].Secret {
				t.Errorf("%s: KAFKA_SASL_PASSWORD is not tagged secret: the logged configuration would show it", s)
			}
		}
	}
	t.Logf("the gateway routes to: %v", routedServices(t))
}
