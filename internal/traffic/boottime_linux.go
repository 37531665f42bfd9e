package traffic

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

const clockBoottime = 7 // CLOCK_BOOTTIME, the clock of /proc/PID/stat's start times

// bootTime is the wall-clock time of the boot, from CLOCK_BOOTTIME.
func bootTime() (time.Time, error) {
	var ts syscall.Timespec
	now := time.Now()
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockBoottime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return time.Time{}, fmt.Errorf("clock_gettime(CLOCK_BOOTTIME): %w", e)
	}
	return now.Add(-time.Duration(ts.Nano())), nil
}
