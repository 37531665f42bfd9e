package testenv

import "syscall"

// setParentDeathSignal has the kernel send sig to the child when the test
// binary dies first.
func setParentDeathSignal(a *syscall.SysProcAttr, sig syscall.Signal) { a.Pdeathsig = sig }
