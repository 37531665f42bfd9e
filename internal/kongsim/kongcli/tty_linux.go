package kongcli

import (
	"os"
	"syscall"
	"unsafe"
)

// stdinIsTTY asks the terminal driver, as isatty(3) does; /dev/null is a
// character device but not a terminal.
func stdinIsTTY() bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, os.Stdin.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
