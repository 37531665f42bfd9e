package backup

import "syscall"

// lowerThreadPriority sets the calling thread's nice value: on Linux,
// setpriority(PRIO_PROCESS, tid) changes that thread only. An unprivileged
// process may raise its nice value but never lower it again (see
// lowPriorityPool).
func lowerThreadPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
