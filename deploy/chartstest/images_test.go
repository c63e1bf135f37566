package chartstest

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// image is one image the charts run: a service's, or a tool's the umbrella chart can
// run beside them.
type image struct {
	Name string // the binary, the image (<registry>/<name>) and its ENTRYPOINT
	Dir  string // its Go module and Dockerfile, relative to the repository root
}

// chartTools are the tools the umbrella chart can run (tools/<name>, off by default):
// their images are built with the services' (mk/cluster.mk DEPLOY_TOOLS, skaffold.yaml).
var chartTools = []image{{Name: "loadgen", Dir: "tools/loadgen"}}

// images lists every image the charts run: each charted service's, then the tools'.
func images(t testing.TB) []image {
	var out []image
	for _, s := range chartedServices(t) {
		out = append(out, image{Name: s, Dir: "services/" + s})
	}
	return append(out, chartTools...)
}

// dockerfile is what TestDockerfiles reads from an image's Dockerfile.
type dockerfile struct {
	Stages []string    // FROM images
	Copies [][2]string // COPY src dst in the build stage (not --from), one per source
	Lines  []string    // instructions, continuation lines joined
	Env    string
	// Download is how many of Copies come before the `go mod download` layer (-1: none).
	Download int
}

func readDockerfile(t testing.TB, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := dockerfile{Download: -1}
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
			// COPY src... dst: each source to dst (a directory when there are several).
			if !strings.HasPrefix(fields[1], "--from") && len(fields) >= 3 {
				for _, src := range fields[1 : len(fields)-1] {
					d.Copies = append(d.Copies, [2]string{src, fields[len(fields)-1]})
				}
			}
		case "ENV":
			d.Env += cur + "\n"
		case "RUN":
			if strings.Contains(cur, "go mod download") && d.Download < 0 {
				d.Download = len(d.Copies)
			}
		}
		cur = ""
	}
	return d
}

// TestDockerfiles checks each image's Dockerfile against the image rules: multi-stage
// from the repository root, module download cached before the sources, CGO off, the
// version stamped, a distroless non-root final image running the binary directly, and
// everything it copies let in by .dockerignore.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	ignore := readDockerignore(t, filepath.Join(root, ".dockerignore"))
	for _, img := range images(t) {
		t.Run(img.Name, func(t *testing.T) {
			path := filepath.Join(root, img.Dir, "Dockerfile")
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
			must(strings.Contains(d.Env, "GOWORK=off"), "GOWORK=off not set: the image builds the module alone, as the context has no go.work")
			must(strings.Contains(all, "-X main.version=${VERSION}"), "version not stamped with -X main.version=${VERSION}")
			must(regexp.MustCompile(`(?m)^USER 65532(:65532)?$`).MatchString(all), "USER 65532 missing")
			must(strings.Contains(all, `ENTRYPOINT ["/`+img.Name+`"]`), `ENTRYPOINT ["/`+img.Name+`"] (exec form, no shell) missing`)
			dl := strings.Index(all, "go mod download")
			src := strings.Index(all, "COPY "+img.Dir+"/ ")
			must(dl > 0 && src > dl, "go mod download must come before the sources are copied (cached layer)")
			// Every local module the go.mod replaces must be in the context: its go.mod
			// (the module graph) always, its sources when the image's code imports it (a
			// module only the tests import needs none; TestImageBuildContext proves it).
			gomod, err := os.ReadFile(filepath.Join(root, img.Dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`=>\s*(\.\./\S+)`).FindAllStringSubmatch(string(gomod), -1) {
				dir := filepath.ToSlash(filepath.Clean(filepath.Join(img.Dir, m[1])))
				must(strings.Contains(all, "COPY "+dir+"/go.mod "+dir+"/go.sum "), "the go.mod of "+dir+" is not copied before the download")
				if importsModule(t, filepath.Join(root, img.Dir), modulePath(t, filepath.Join(root, dir))) {
					must(strings.Contains(all, "COPY "+dir+"/ "+dir+"/"), "the replaced module "+dir+" is not copied")
				}
			}
			for _, c := range d.Copies {
				must(ignore.letsIn(c[0]), ".dockerignore keeps "+c[0]+" out of the build context: add !"+c[0])
			}
			if !mainVersionVar(t, img.Dir) {
				t.Error(img.Dir + "/main.go declares no `var version`: -X main.version would stamp nothing")
			}
		})
	}
}

// TestEveryDockerfileIsChecked: each Dockerfile in the repository is an image the tests
// above check (a service's or one of chartTools).
func TestEveryDockerfileIsChecked(t *testing.T) {
	root := repoRoot(t)
	var known []string
	for _, img := range images(t) {
		known = append(known, img.Dir+"/Dockerfile")
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Hidden directories (.git, the local stack's .run and .bench) and test data hold
		// no image of the project.
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "Dockerfile" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if !slices.Contains(known, filepath.ToSlash(rel)) {
			t.Errorf("%s is not checked: a service's needs its chart, a tool's an entry in chartTools (images_test.go)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mainVersionVar(t testing.TB, dir string) bool {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), dir, "main.go"))
	if err != nil {
		return false
	}
	return regexp.MustCompile(`(?m)^\s*(var\s+)?version\s*(string\s*)?=\s*"`).Match(b) || regexp.MustCompile(`(?m)^var version string`).Match(b)
}

// modulePath reads the module path from dir/go.mod.
func modulePath(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s/go.mod names no module", dir)
	}
	return string(m[1])
}

// importsModule reports whether a non-test Go file under dir imports a package of the
// module mod (what the image compiles; tests and testdata stay out of the context).
func importsModule(t testing.TB, dir, mod string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if path == mod || strings.HasPrefix(path, mod+"/") {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// dockerignore is the build context's .dockerignore: its patterns in order, the last
// that matches a path deciding (a leading ! lets the path back in).
type dockerignore []string

func readDockerignore(t testing.TB, path string) dockerignore {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			d = append(d, l)
		}
	}
	return d
}

// letsIn reports whether a COPY source (a file, or a directory with a trailing slash)
// reaches the context. It reads the patterns this repository uses — "*", a path or
// directory, and "**/" patterns, which only drop files a build never reads — not
// every rule of Docker's matcher.
func (d dockerignore) letsIn(src string) bool {
	path := strings.TrimSuffix(src, "/")
	in := true
	for _, p := range d {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimSuffix(strings.TrimPrefix(p, "!"), "/")
		var match bool
		switch {
		case strings.HasPrefix(p, "**/"):
			continue
		case p == "*":
			match = true
		default:
			match = path == p || strings.HasPrefix(path, p+"/")
		}
		if match {
			in = neg
		}
	}
	return in
}

// TestImageBuildContext rebuilds, without Docker, what each Dockerfile's build stage
// sees, layer by layer: the files it COPYs before `go mod download`, that download (it
// reads the go.mod of every module a replace names), then the rest and `go list -deps`,
// all as GOWORK=off. A file the image would miss (a module or go.mod not copied, a
// go.sum entry only the workspace has) fails here instead of in `docker build`.
// CHARTSTEST_BUILD_IMAGES=1 compiles the binaries too (slower: a cold build of every image).
func TestImageBuildContext(t *testing.T) {
	root := repoRoot(t)
	for _, img := range images(t) {
		t.Run(img.Name, func(t *testing.T) {
			d := readDockerfile(t, filepath.Join(root, img.Dir, "Dockerfile"))
			if d.Download < 0 {
				t.Fatal("no `go mod download` layer")
			}
			ctx := t.TempDir()
			goCmd := func(args ...string) {
				t.Helper()
				cmd := exec.Command("go", args...)
				cmd.Dir = filepath.Join(ctx, img.Dir)
				cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s in the image's context: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			for i, c := range d.Copies {
				if i == d.Download {
					goCmd("mod", "download")
				}
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
			if d.Download == len(d.Copies) {
				goCmd("mod", "download")
			}
			args := []string{"list", "-deps", "."}
			if os.Getenv("CHARTSTEST_BUILD_IMAGES") == "1" {
				args = []string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", filepath.Join(t.TempDir(), img.Name), "."}
			}
			goCmd(args...)
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
