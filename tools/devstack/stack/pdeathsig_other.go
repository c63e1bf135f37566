//go:build unix && !linux

package stack

import "syscall"

// setParentDeathSignal has no counterpart outside Linux; a service orphaned by a crashed
// stack keeps running until stopped by hand.
func setParentDeathSignal(*syscall.SysProcAttr) {}
