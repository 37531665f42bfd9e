//go:build !linux

package backup

// lowerThreadPriority does nothing outside Linux: elsewhere setpriority
// applies to the whole process, pg_dump's copier and the agent with it.
func lowerThreadPriority(int) error { return nil }
