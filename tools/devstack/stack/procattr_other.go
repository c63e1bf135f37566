//go:build !unix

package stack

import (
	"os"
	"os/exec"
)

// Without Unix process groups and signals a service cannot be asked to stop gracefully;
// it is killed.
func setProcAttrs(*exec.Cmd) {}

func terminate(p *os.Process) error { return killGroup(p) }

func killGroup(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	return p.Kill()
}

func endedByTerm(*os.ProcessState) bool { return false }
