package chartstest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// repoRoot is the repository root, found from this file's location so the tests run
// from any working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	return repoRootNoT()
}

func repoRootNoT() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("cannot locate the test source")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		panic(fmt.Sprintf("repository root not found at %s: %v", root, err))
	}
	return root
}

// stagingRoot holds the staged charts of this test binary; TestMain removes it.
var stagingRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chartstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stagingRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stageChart copies the chart at src to dst and fills dst/charts with its file://
// dependencies, recursively: the tree `helm dependency update` builds. The tests need
// no helm binary and leave the work tree alone.
func stageChart(src, dst string) error {
	if err := copyTree(src, dst); err != nil {
		return fmt.Errorf("stage %s: %w", src, err)
	}
	md, err := chartutil.LoadChartfile(filepath.Join(src, "Chart.yaml"))
	if err != nil {
		return fmt.Errorf("stage %s: %w", src, err)
	}
	for _, d := range md.Dependencies {
		rel, ok := strings.CutPrefix(d.Repository, "file://")
		if !ok {
			return fmt.Errorf("%s: dependency %s comes from %q; only file:// dependencies can be proven offline", src, d.Name, d.Repository)
		}
		if err := stageChart(filepath.Join(src, rel), filepath.Join(dst, "charts", d.Name)); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies src to dst, leaving out what `helm dependency update` writes into the
// work tree (charts/, Chart.lock, archives) so a developer's local build never leaks in.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "charts" || rel == "Chart.lock" || strings.HasSuffix(rel, ".tgz") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (symbolic links do not survive helm package)", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
