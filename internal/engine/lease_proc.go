package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
)

// procID is the process that holds a lease, recorded with it so that a
// successor on the same host can tell a dead holder from a live one
// without waiting for the lease to expire (the holder string is free text:
// --holder, "agent ID").
//
// A process is named by its PID within a PID namespace on a host, and by
// its start time (field 22 of /proc/PID/stat, clock ticks since boot): a
// PID reused by another process after the holder died has another start
// time, and a holder in another container sharing the journal directory
// has another PID namespace. Where any of these cannot be read (not
// Linux, /proc not mounted), Start is 0 and the lease only expires or is
// broken by upshift unlock: unknown never counts as dead.
type procID struct {
	Host  string `json:"host,omitempty"`
	PIDNS string `json:"pidns,omitempty"` // readlink /proc/self/ns/pid, e.g. "pid:[4026531836]"
	PID   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"`
}

var (
	selfOnce sync.Once
	self     procID
)

// selfProc is this process's procID.
func selfProc() procID {
	selfOnce.Do(func() {
		host, _ := os.Hostname()
		self = procID{Host: host, PID: os.Getpid()}
		ns, err1 := os.Readlink("/proc/self/ns/pid")
		start, err2 := procStart(self.PID)
		if err1 == nil && err2 == nil {
			self.PIDNS, self.Start = ns, start
		}
	})
	return self
}

// procStart reads the start time of process pid, and fails with
// fs.ErrNotExist when there is no such process (or only a zombie: killed,
// not yet reaped, it holds nothing any more).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// "PID (comm) S ppid ..." where comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fs.ErrNotExist
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 overall
}

// holderGone says whether p, a lease's recorded holder, is a process on
// this host (and PID namespace) that no longer exists, and why. Anything
// it cannot establish for certain answers false.
func holderGone(p procID) (bool, string) {
	me := selfProc()
	if p.PID <= 0 || p.Start == 0 || me.Start == 0 || p.Host != me.Host || p.PIDNS != me.PIDNS {
		return false, ""
	}
	if p.PID == me.PID && p.Start == me.Start {
		return false, "" // this very process: alive
	}
	start, err := procStart(p.PID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, fmt.Sprintf("holder process %d on this host (%s) no longer exists", p.PID, p.Host)
	case err != nil:
		return false, ""
	case start != p.Start:
		return true, fmt.Sprintf("holder process %d on this host (%s) no longer exists (the PID now belongs to a process started later)", p.PID, p.Host)
	}
	return false, ""
}

// takeoverEvent is the record an Acquire appends when it takes over the
// lease of a dead holder: EventLeaseBroken, by the new holder, naming the
// dead one.
func takeoverEvent(plan, holder, why string, before LeaseState, dead procID) Record {
	ev := breakEvent(plan, holder, why, before)
	ev.Details["dead_pid"] = strconv.Itoa(dead.PID)
	ev.Details["dead_host"] = dead.Host
	ev.Details["takeover"] = "true"
	return ev
}
