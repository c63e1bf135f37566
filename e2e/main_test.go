// Package e2e walks instant as a user would: every service runs as its own process, built
// from this tree, started by the same launcher as `make run`, and every request goes over
// TCP through the gateway. Under CI the stores are the real PostgreSQL and Redis.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"instant/tools/devstack/stack"
)

// binDir holds the service binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "instant-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, s := range stack.DefaultServices() {
		args = append(args, "./services/"+s.Name)
	}
	cmd := exec.CommandContext(context.Background(), "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build services:", err)
		return 1
	}
	binDir = dir
	if specPath, err = filepath.Abs(specPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
