//go:build linux

package stack

import "syscall"

// setParentDeathSignal makes the kernel send SIGTERM to a service whose stack died
// without stopping it (a crash, a kill -9), so no orphan keeps a fixed port busy for the
// next `make run`. The signal follows the thread that started the child; the Go runtime
// keeps that thread alive unless a goroutine locked to it exits, which the stack never does.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
