package chartstest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerfile is what TestDockerfiles reads from a services/<name>/Dockerfile.
type dockerfile struct {
	Stages []string    // FROM images
	Copies [][2]string // COPY src dst in the build stage (not --from)
	Lines  []string    // instructions, continuation lines joined
	Env    string
}

func readDockerfile(t testing.TB, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		d.Lines = append(d.Lines, cur)
		fields := strings.Fields(cur)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			d.Stages = append(d.Stages, fields[1])
		case "COPY":
			if !strings.HasPrefix(fields[1], "--from") && len(fields) == 3 {
				d.Copies = append(d.Copies, [2]string{fields[1], fields[2]})
			}
		case "ENV":
			d.Env += cur + "\n"
		}
		cur = ""
	}
	return d
}

// TestDockerfiles checks each service's Dockerfile against the image rules: multi-stage
// from the repository root, module download cached before the sources, CGO off, the
// version stamped, a distroless non-root final image running the binary directly.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	for _, s := range chartedServices(t) {
		t.Run(s, func(t *testing.T) {
			path := filepath.Join(root, "services", s, "Dockerfile")
			d := readDockerfile(t, path)
			all := strings.Join(d.Lines, "\n")
			must := func(ok bool, what string) {
				if !ok {
					t.Errorf("%s: %s", path, what)
				}
			}
			must(len(d.Stages) >= 2, "not multi-stage")
			must(len(d.Stages) > 0 && strings.HasPrefix(d.Stages[0], "golang:"), "build stage is not golang")
			last := d.Stages[len(d.Stages)-1]
			must(regexp.MustCompile(`^gcr\.io/distroless/static[-a-z0-9]*:nonroot$`).MatchString(last), "final image "+last+" is not distroless/static :nonroot")
			must(strings.Contains(d.Env, "CGO_ENABLED=0"), "CGO_ENABLED=0 not set")
			must(strings.Contains(all, "-X main.version=${VERSION}"), "version not stamped with -X main.version=${VERSION}")
			must(regexp.MustCompile(`(?m)^USER 65532(:65532)?$`).MatchString(all), "USER 65532 missing")
			must(strings.Contains(all, `ENTRYPOINT ["/`+s+`"]`), `ENTRYPOINT ["/`+s+`"] (exec form, no shell) missing`)
			dl := strings.Index(all, "go mod download")
			src := strings.Index(all, "COPY services/"+s+"/ ")
			must(dl > 0 && src > dl, "go mod download must come before the sources are copied (cached layer)")
			// Every local module the service's go.mod replaces must be in the context.
			gomod, err := os.ReadFile(filepath.Join(root, "services", s, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`=>\s*(\.\./\S+)`).FindAllStringSubmatch(string(gomod), -1) {
				dir := filepath.ToSlash(filepath.Clean(filepath.Join("services", s, m[1])))
				must(strings.Contains(all, "COPY "+dir+"/ "+dir+"/"), "the replaced module "+dir+" is not copied")
				must(strings.Contains(all, "COPY "+dir+"/go.mod "+dir+"/go.sum "), "the go.mod of "+dir+" is not copied before the download")
			}
			if v := mainVersionVar(t, s); !v {
				t.Errorf("services/%s/main.go declares no `var version`: -X main.version would stamp nothing", s)
			}
		})
	}
}

func mainVersionVar(t testing.TB, s string) bool {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "services", s, "main.go"))
	if err != nil {
		return false
	}
	return regexp.MustCompile(`(?m)^\s*(var\s+)?version\s*(string\s*)?=\s*"`).Match(b) || regexp.MustCompile(`(?m)^var version string`).Match(b)
}

// TestImageBuildContext rebuilds, without Docker, what each Dockerfile's build stage
// sees: only the files it COPYs, then `go list -deps` as GOWORK=off. A package the
// image would miss (a module not copied, a go.sum entry only the workspace has) fails
// here instead of in `docker build`. CHARTSTEST_BUILD_IMAGES=1 compiles the binaries
// too (slower: a cold build of every service).
func TestImageBuildContext(t *testing.T) {
	root := repoRoot(t)
	for _, s := range chartedServices(t) {
		t.Run(s, func(t *testing.T) {
			d := readDockerfile(t, filepath.Join(root, "services", s, "Dockerfile"))
			ctx := t.TempDir()
			for _, c := range d.Copies {
				src := filepath.Join(root, c[0])
				dst := filepath.Join(ctx, c[1])
				st, err := os.Stat(src)
				if err != nil {
					t.Fatalf("COPY %s: %v", c[0], err)
				}
				if st.IsDir() {
					if err := copyContext(src, dst); err != nil {
						t.Fatal(err)
					}
				} else {
					if strings.HasSuffix(c[1], "/") {
						dst = filepath.Join(dst, filepath.Base(src))
					}
					if err := copyFile(src, dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := []string{"list", "-deps", "."}
			if os.Getenv("CHARTSTEST_BUILD_IMAGES") == "1" {
				args = []string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", filepath.Join(t.TempDir(), s), "."}
			}
			cmd := exec.Command("go", args...)
			cmd.Dir = filepath.Join(ctx, "services", s)
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go %s in the image's context: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// copyContext copies a directory as the Docker context would (.dockerignore drops
// tests and testdata, which the build never reads).
func copyContext(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			if info.Name() == "testdata" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(p, "_test.go") || !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
