package traffic

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The nginx driver does not take the upstream file for what nginx routes:
// a crash between writing the file and the reload leaves a file nginx
// never loaded. What nginx itself shows is its processes: a reload makes
// the master (whose pid is in nginx's pid file) read the configuration
// again and then start new worker processes with it, while the old ones
// are renamed "worker process is shutting down" and stop accepting. A
// master whose every accepting worker started after the upstream file was
// written has read that file; one with a worker older than the file has
// not (or nginx refused the configuration and kept the old workers).
//
// Start times come from /proc/PID/stat (clock ticks since boot) and the
// file's modification time (wall clock), compared on the boot clock with
// a margin of a tick: SetWeights waits until the tick after the write has
// begun before it reloads, so the comparison is never a tie. Limits, in
// the driver's doc: another process reloading nginx at the moment the
// file is written, or a worker respawned after a crash of its own, would
// be taken as having loaded the file; a step of the wall clock between the
// write and the check shifts the comparison.

// tick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const tick = 10 * time.Millisecond

// NotLoadedError says that the running nginx has not loaded the upstream
// file as it is now: the weights in the file are not what nginx routes.
type NotLoadedError struct {
	Written time.Time // the upstream file's modification time
	Worker  int       // pid of an accepting worker older than that; 0 when none accepts
	Started time.Time // when that worker started
}

func (e *NotLoadedError) Error() string {
	if e.Worker == 0 {
		return fmt.Sprintf("nginx has not loaded the upstream file written at %s: no worker process accepts connections (workers starting or none)",
			e.Written.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("nginx has not loaded the upstream file written at %s: worker %d started at %s, before it (a reload is missing or nginx refused the file)",
		e.Written.Format(time.RFC3339Nano), e.Worker, e.Started.Format(time.RFC3339Nano))
}

// nginxLoaded returns nil when the nginx master in pidFile has only
// accepting workers started after written; a *NotLoadedError when one
// started before; another error when the processes cannot be read.
func nginxLoaded(pidFile string, written time.Time) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("nginx pid file: %w", err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || master <= 0 {
		return fmt.Errorf("nginx pid file %s holds %q, not a pid", pidFile, strings.TrimSpace(string(b)))
	}
	if cmd, err := procCmdline(master); err != nil {
		return fmt.Errorf("nginx master %d (from %s): %w", master, pidFile, err)
	} else if !strings.HasPrefix(cmd, "nginx: master process") {
		return fmt.Errorf("process %d (from %s) is %q, not an nginx master process", master, pidFile, cmd)
	}
	boot, err := bootTime()
	if err != nil {
		return err
	}
	// The last tick that may hold the write: a worker must start in a
	// later one.
	limit := (written.Sub(boot) + time.Millisecond) / tick
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return err
	}
	workers := 0
	for _, p := range stats {
		pid, ppid, start, err := procStat(p)
		if err != nil || ppid != master {
			continue // a process that ended while listing, or not nginx's
		}
		cmd, err := procCmdline(pid)
		if err != nil || strings.Contains(cmd, "shutting down") {
			continue
		}
		if strings.HasPrefix(cmd, "nginx: master process") {
			// Forked by a reload, not yet renamed: a worker about to
			// start with whatever the master loaded.
			return &NotLoadedError{Written: written}
		}
		if !strings.HasPrefix(cmd, "nginx: worker process") {
			continue // cache manager and loader
		}
		workers++
		if time.Duration(start) <= limit {
			return &NotLoadedError{Written: written, Worker: pid, Started: boot.Add(time.Duration(start) * tick)}
		}
	}
	if workers == 0 {
		return &NotLoadedError{Written: written}
	}
	return nil
}

// waitNextTick returns once the boot clock is past the tick that holds
// written (see nginxLoaded), so that workers started from now on count as
// started after it.
func waitNextTick(written time.Time) error {
	boot, err := bootTime()
	if err != nil {
		return err
	}
	next := boot.Add(((written.Sub(boot)+time.Millisecond)/tick+1)*tick + time.Millisecond)
	if d := time.Until(next); d > 0 {
		time.Sleep(d) // at most two ticks
	}
	return nil
}

// procStat reads pid, parent pid and start time (ticks since boot) from a
// /proc/PID/stat file.
func procStat(path string) (pid, ppid int, start int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, 0, 0, errors.New("malformed stat")
	}
	pid, err = strconv.Atoi(strings.TrimSpace(s[:strings.IndexByte(s, ' ')]))
	if err != nil {
		return 0, 0, 0, err
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return 0, 0, 0, errors.New("malformed stat")
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, 0, err
	}
	start, err = strconv.ParseInt(f[19], 10, 64) // field 22
	return pid, ppid, start, err
}

func procCmdline(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " "), nil
}
