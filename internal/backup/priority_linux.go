package backup

import "syscall"

// lowerThreadPriority adds by to the calling thread's nice value, up to
// 19; a thread already there is left as it is. On Linux,
// setpriority(PRIO_PROCESS, tid) changes that thread only (getpriority
// returns 20 - nice). Without CAP_SYS_NICE a process may raise its nice
// value but never lower it again (see lowPriorityPool).
func lowerThreadPriority(by int) error {
	tid := syscall.Gettid()
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	cur := 20 - raw
	if target := min(cur+by, 19); target > cur {
		return syscall.Setpriority(syscall.PRIO_PROCESS, tid, target)
	}
	return nil
}
