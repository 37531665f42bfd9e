//go:build !linux

package testenv

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal (darwin): a crashed test may leave its servers behind there. It
// lets the release build the sandbox, which uses this package, for darwin.
func setParentDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}
