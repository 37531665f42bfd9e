package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// "Never destroy on doubt" at the level of decide: each destructive step
// (restore, migrations up/finish, stop_from, decommission, the rollback's
// restore) against an observation that cannot be read and one that shows
// the target live, with the journal of a run crafted record by record.
// Nothing is contacted: the observation is a literal.

// evidencePlan is a plan of strategy with literal addresses nobody
// listens on, a command load balancer, a 50/100 rollout, and extra
// attributes (approve, rollback) before the closing brace.
func evidencePlan(strategy, extra string) string {
	toDB := `    database { dsn = "postgres://kong@127.0.0.1:9/y?sslmode=disable" }` + "\n"
	rollout := `  traffic "command" {
    set = ["true"]
    get = ["echo", "100 0"]
  }
  rollout {
    step {
      weight = 50
      pause  = "1s"
    }
    step {
      weight = 100
      pause  = "1s"
    }
  }
`
	switch strategy {
	case "blue_green":
		toDB = ""
	case "in_place":
		toDB, rollout = "", ""
	}
	return fmt.Sprintf(`upgrade "ev" {
  cluster     = "ev"
  strategy    = %q
  mode        = "traditional"
  acknowledge = ["UP007"]
  from {
    version   = "3.8.0"
    admin_url = "http://127.0.0.1:7"
    proxy_url = "http://127.0.0.1:6"
    database { dsn = "postgres://kong@127.0.0.1:9/x?sslmode=disable" }
    start = ["true"]
    stop  = ["true"]
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:5"
    proxy_url = "http://127.0.0.1:4"
%s    kong  = ["kong"]
    start = ["true"]
    stop  = ["true"]
  }
  backup {
    dir    = "/nonexistent/ev"
    verify = false
  }
%s%s}
`, strategy, toDB, rollout, extra)
}

// runLog builds a run's journal: run_started, then intents and outcomes.
type runLog struct {
	e    *Engine
	recs []Record
}

func newRunLog(e *Engine) *runLog {
	l := &runLog{e: e}
	l.add(Record{Kind: KindEvent, Event: EventRunStarted, Details: map[string]string{"digest": e.digest}})
	return l
}

func (l *runLog) add(r Record) int64 {
	r.Seq = int64(len(l.recs) + 1)
	r.Plan, r.Time = "ev", time.Unix(1700000000+r.Seq, 0).UTC()
	l.recs = append(l.recs, r)
	return r.Seq
}

// intent writes an intent alone (a runner that stopped with no outcome).
func (l *runLog) intent(step string) int64 {
	return l.add(Record{Kind: KindIntent, Step: step, Attempt: 1})
}

// ok writes an intent and its ok outcome for each step.
func (l *runLog) ok(steps ...string) *runLog {
	for _, s := range steps {
		i := l.intent(s)
		var d map[string]string
		switch s {
		case "backup":
			d = map[string]string{"backup": "b1", "fingerprint": "fp-x", "counts": "services=1"}
		case "restore":
			d = map[string]string{"backup": "b1"}
		}
		l.add(Record{Kind: KindOutcome, Step: s, IntentSeq: i, Result: ResultOK, Details: d})
	}
	return l
}

func (l *runLog) failed(step, output, err string) *runLog {
	i := l.intent(step)
	l.add(Record{Kind: KindOutcome, Step: step, IntentSeq: i, Result: ResultFailed, Output: output, Error: err})
	return l
}

func up(v string) *NodeFacts { return &NodeFacts{Reachable: true, Version: v, Ready: true} }
func down() *NodeFacts       { return &NodeFacts{Error: "dial tcp: connection refused", Refused: true} }

// hungNode is a node that does not answer in time: no evidence it stopped.
func hungNode() *NodeFacts {
	return &NodeFacts{Error: "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"}
}
func split(x, y int) *TrafficFacts { return &TrafficFacts{From: x, To: y} }

// migrated is a database on which 3.9.1 has nothing new (and, with
// pending, migrations still to finish).
func migrated(pending bool) *DatabaseFacts {
	f := &DatabaseFacts{ContentRead: true, Fingerprint: "fp-x", ForTo: &MigrationFacts{Version: "3.9.1", UpToDate: true}}
	if pending {
		f.ForTo.Pending = map[string][]string{"core": {"024_380_to_390"}}
	}
	return f
}

// unmigrated is a bootstrapped database on which 3.9.1 has a new migration.
func unmigrated() *DatabaseFacts {
	return &DatabaseFacts{ForTo: &MigrationFacts{Version: "3.9.1", New: map[string][]string{"core": {"024_380_to_390"}}}}
}

func unreadableDB() *DatabaseFacts {
	return &DatabaseFacts{Error: "failed to connect to `host=127.0.0.1 user=kong database=y`: dial error (connection refused)"}
}

// baseObs: X up at 3.8.0, Y up at 3.9.1 and ready, X's fingerprint equal
// to the backup's, the newest backup this run's.
func baseObs() Observed {
	return Observed{From: up("3.8.0"), To: up("3.9.1"), Fingerprint: &FingerprintFacts{Hash: "fp-x"},
		Backup: &BackupFacts{Present: true, Name: "b1", SHA256: "sha-b1", Fingerprint: "fp-x"}}
}

// decideOn decides plan src on obs with the run the log function writes.
func decideOn(t *testing.T, src string, obs Observed, log func(*runLog)) (decision, *Engine) {
	t.Helper()
	e, err := New(Config{Plan: lintedPlan(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	l := newRunLog(e)
	log(l)
	d := e.decide(&state{obs: obs, h: readHistory(l.recs, e.digest), p: e.plan, to: e.to})
	return d, e
}

// wantStall: the next step is name, it does not run, and the plan is
// Stalled with reason, its message containing msg.
func wantStall(t *testing.T, d decision, name, reason, msg string) {
	t.Helper()
	if d.next < 0 {
		t.Fatalf("no next step; condition %+v", d.cond)
	}
	if got := d.steps[d.next].name; got != name || d.blocked == "" || d.cond.Type != ConditionStalled || d.cond.Reason != reason || !strings.Contains(d.cond.Message, msg) {
		t.Fatalf("next %s (blocked %q), condition %+v; want %s stalled with %s mentioning %q", got, d.blocked, d.cond, name, reason, msg)
	}
}

// wantRuns: the next step is name and may run.
func wantRuns(t *testing.T, d decision, name string) {
	t.Helper()
	if d.next < 0 || d.steps[d.next].name != name || d.blocked != "" {
		got := "none"
		if d.next >= 0 {
			got = d.steps[d.next].name
		}
		t.Fatalf("next %s (blocked %q), condition %+v; want %s to run", got, d.blocked, d.cond, name)
	}
}

// Finding 2: 100% of traffic on Y, decommission approved, Y's database
// unreadable: the engine chose restore (drop and recreate Y's live
// database). Unknown must stall, never select restore.
func TestEvidenceRestoreUnreadableAtFullTraffic(t *testing.T) {
	obs := baseObs()
	obs.ToDatabase, obs.Traffic = unreadableDB(), split(0, 100)
	d, _ := decideOn(t, evidencePlan("dual_cluster", `  approve_in_advance = ["decommission"]`+"\n"), obs, func(l *runLog) {
		l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100")
	})
	wantStall(t, d, "restore", ReasonObservationFailed, "Y's database cannot be read")
	if !d.wait {
		t.Error("an unreadable database is worth waiting for before stalling")
	}
}

// Restore against "live" and against its evidence: each case is Y's
// database and traffic as observed before this run's restore.
func TestEvidenceRestore(t *testing.T) {
	src := evidencePlan("dual_cluster", "")
	for _, c := range []struct {
		name    string
		db      *DatabaseFacts
		traffic *TrafficFacts
		y       *NodeFacts
		want    string // "" runs; else the condition's reason, then a fragment
		msg     string
	}{
		{"empty", &DatabaseFacts{ContentRead: true, Empty: true, NeedsBootstrap: true}, split(100, 0), down(), "", ""},
		{"absent", &DatabaseFacts{ContentRead: true, Empty: true, Absent: true, NeedsBootstrap: true}, split(100, 0), down(), "", ""},
		{"this run's restore", &DatabaseFacts{ContentRead: true, Fingerprint: "fp-x"}, split(100, 0), down(), "", ""},
		{"this run's restore, half done", &DatabaseFacts{ContentRead: true, Fingerprint: "partial", NeedsBootstrap: true,
			Restore: &RestoreFacts{Owned: true, State: "restoring", Manifest: "sha-b1"}}, split(100, 0), down(), "", ""},
		{"another archive's restore", &DatabaseFacts{ContentRead: true, Fingerprint: "fp-old",
			Restore: &RestoreFacts{Owned: true, State: "restored", Manifest: "sha-old"}}, split(100, 0), down(), ReasonPreconditionFail, "not this run's backup"},
		{"foreign content", &DatabaseFacts{ContentRead: true, Fingerprint: "fp-other"}, split(100, 0), down(), ReasonPreconditionFail, "not this run's backup"},
		{"Y carries traffic", &DatabaseFacts{ContentRead: true, Empty: true, NeedsBootstrap: true}, split(90, 10), down(), ReasonPreconditionFail, "Y gets 10% of traffic"},
		{"Y serves its database", &DatabaseFacts{ContentRead: true, Fingerprint: "fp-x"}, split(100, 0), up("3.9.1"), ReasonPreconditionFail, "Y answers"},
		{"content not read", &DatabaseFacts{}, split(100, 0), down(), ReasonPreconditionFail, "was not read"},
		{"database unreadable", unreadableDB(), split(100, 0), down(), ReasonObservationFailed, "Y's database cannot be read"},
		{"split unreadable", &DatabaseFacts{ContentRead: true, Empty: true, NeedsBootstrap: true}, &TrafficFacts{Error: "get: exit 1"}, down(), ReasonObservationFailed, "traffic split cannot be read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := baseObs()
			obs.ToDatabase, obs.Traffic, obs.To = c.db, c.traffic, c.y
			d, _ := decideOn(t, src, obs, func(l *runLog) { l.ok("guard", "backup") })
			if c.want == "" {
				wantRuns(t, d, "restore")
				return
			}
			wantStall(t, d, "restore", c.want, c.msg)
		})
	}
}

// Finding 9 (blue-green): the shared database unreadable at pause_50 made
// migrations_up "not done", and Kong's up ran again at 50% of traffic.
func TestEvidenceMigrationsUpUnreadable(t *testing.T) {
	obs := baseObs()
	obs.FromDatabase, obs.SharedDatabase, obs.Traffic = unreadableDB(), true, split(50, 50)
	obs.Fingerprint = &FingerprintFacts{Error: "connection refused"}
	d, _ := decideOn(t, evidencePlan("blue_green", ""), obs, func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50")
	})
	wantStall(t, d, "migrations_up", ReasonObservationFailed, "the shared database cannot be read")
}

// Finding 9: a migrations run of this run that did not end ok is not run
// again when Kong had begun migrating: its SQL may have committed without
// schema_meta knowing.
func TestEvidenceMigrationsNoBlindRetry(t *testing.T) {
	src := evidencePlan("blue_green", "")
	expiredLock := []LockFacts{{Key: "migrations", Owner: "kong-runner", TTL: time.Unix(1, 0).UTC(), Expired: true}}
	for _, c := range []struct {
		name string
		db   func() *DatabaseFacts
		log  func(*runLog)
		want string // "" runs
		msg  string
		wait bool
	}{
		{"failed after migrating", unmigrated, func(l *runLog) {
			l.failed("migrations_up", "migrating core on database 'kong'...", "kong migrations up: exit 1: failed to run migration '024_380_to_390' up: timeout")
		}, ReasonMigrationInDoubt, "core/024_380_to_390", false},
		{"killed after migrating", unmigrated, func(l *runLog) {
			l.failed("migrations_up", "migrating core on database 'kong'...", "kong migrations up: signal: killed")
		}, ReasonMigrationInDoubt, "does not run it again", false},
		{"no outcome, lock row left", func() *DatabaseFacts { f := unmigrated(); f.Locks = expiredLock; return f }, func(l *runLog) {
			l.intent("migrations_up")
		}, ReasonMigrationInDoubt, "lock row of kong-runner", false},
		{"no outcome, still running", func() *DatabaseFacts {
			f := unmigrated()
			f.Activity = []BackendFacts{{PID: 4242, Application: "pgmoon", State: "active", Migration: true}}
			return f
		}, func(l *runLog) { l.intent("migrations_up") }, ReasonMigrationInDoubt, "backend 4242", true},
		{"failed before Kong began", unmigrated, func(l *runLog) {
			l.failed("migrations_up", "Error: [PostgreSQL error] failed to retrieve PostgreSQL server_version_num: connection refused", "kong migrations up: exit 1")
		}, "", "", false},
		{"no outcome, nothing left", unmigrated, func(l *runLog) { l.intent("migrations_up") }, "", "", false},
		{"done after all", func() *DatabaseFacts { return migrated(true) }, func(l *runLog) {
			l.failed("migrations_up", "migrating core on database 'kong'...", "signal: killed")
		}, "start_to", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := baseObs()
			obs.To = down()
			obs.FromDatabase, obs.SharedDatabase, obs.Traffic = c.db(), true, split(100, 0)
			d, _ := decideOn(t, src, obs, func(l *runLog) { l.ok("guard", "backup"); c.log(l) })
			switch c.want {
			case "":
				wantRuns(t, d, "migrations_up")
			case "start_to":
				wantRuns(t, d, "start_to")
			default:
				wantStall(t, d, "migrations_up", c.want, c.msg)
				if d.wait != c.wait {
					t.Errorf("wait = %v, want %v", d.wait, c.wait)
				}
			}
		})
	}
}

// Finding 9 (blue-green): X killed during pause_50 was taken as stopped
// by stop_from, and the approved finish ran.
func TestEvidenceXDownIsAFault(t *testing.T) {
	src := evidencePlan("blue_green", `  approve_in_advance = ["finish", "decommission"]`+"\n")
	obs := baseObs()
	obs.From, obs.FromDatabase, obs.SharedDatabase, obs.Traffic = down(), migrated(true), true, split(0, 100)
	d, _ := decideOn(t, src, obs, func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100")
	})
	wantStall(t, d, "traffic_50", ReasonSideDown, "this run did not stop it")

	// In place, stop_from itself: X down before this run stopped it is
	// not "stopped" (the next step would change its database).
	ip := evidencePlan("in_place", `  approve_in_advance = ["stop_current", "decommission"]`+"\n")
	ipObs := baseObs()
	ipObs.From, ipObs.To, ipObs.FromDatabase, ipObs.SharedDatabase = down(), down(), unmigrated(), true
	d, _ = decideOn(t, ip, ipObs, func(l *runLog) { l.ok("guard", "backup") })
	wantStall(t, d, "stop_from", ReasonSideDown, "this run did not stop it")
	d, _ = decideOn(t, ip, ipObs, func(l *runLog) { l.ok("guard", "backup", "stop_from") })
	wantRuns(t, d, "migrations_up")

	// Killed at 50%: the next traffic step does not run either.
	obs.Traffic = split(50, 50)
	d, _ = decideOn(t, src, obs, func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50")
	})
	wantStall(t, d, "traffic_50", ReasonSideDown, "X does not answer")

	// Stopped by this run: progress; finish may run.
	obs.Traffic = split(0, 100)
	d, _ = decideOn(t, src, obs, func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100", "stop_from")
	})
	wantRuns(t, d, "migrations_finish")
}

// migrations_finish against "unreadable" and "live".
func TestEvidenceFinish(t *testing.T) {
	src := evidencePlan("blue_green", `  approve_in_advance = ["finish", "decommission"]`+"\n")
	log := func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100", "stop_from")
	}
	obs := baseObs()
	obs.From, obs.FromDatabase, obs.SharedDatabase = down(), migrated(true), true

	obs.Traffic = &TrafficFacts{Error: "get: exit 1"}
	d, _ := decideOn(t, src, obs, log)
	wantStall(t, d, "traffic_50", ReasonObservationFailed, "traffic split cannot be read")

	obs.Traffic = split(0, 100)
	obs.FromDatabase = unreadableDB()
	d, _ = decideOn(t, src, obs, log)
	wantStall(t, d, "migrations_up", ReasonObservationFailed, "cannot be read")

	obs.FromDatabase = migrated(true)
	obs.From = up("3.8.0") // X started again by someone: it serves from the database
	d, _ = decideOn(t, src, obs, log)
	if d.next >= 0 && d.steps[d.next].name == "migrations_finish" && d.blocked == "" {
		t.Fatalf("finish runs while X answers: %+v", d.cond)
	}
}

// Finding 5: the drift guard before blue-green's decommission and
// in-place's migrations_up, and no baseline or no fingerprint stops the
// plan instead of passing.
func TestEvidenceDriftGuard(t *testing.T) {
	changed := &FingerprintFacts{Hash: "fp-changed", Counts: map[string]int64{"services": 2}}

	bg := evidencePlan("blue_green", `  approve_in_advance = ["finish", "decommission"]`+"\n")
	bgDone := func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100", "stop_from", "migrations_finish")
	}
	obs := baseObs()
	obs.From, obs.FromDatabase, obs.SharedDatabase, obs.Traffic = down(), migrated(false), true, split(0, 100)
	obs.Fingerprint = changed
	d, _ := decideOn(t, bg, obs, bgDone)
	wantStall(t, d, "decommission", ReasonDriftDetected, "changed after the backup")

	ip := evidencePlan("in_place", `  approve_in_advance = ["stop_current", "decommission"]`+"\n")
	obs = baseObs()
	obs.From, obs.To, obs.FromDatabase, obs.SharedDatabase = down(), down(), unmigrated(), true
	obs.Fingerprint = changed
	d, _ = decideOn(t, ip, obs, func(l *runLog) { l.ok("guard", "backup", "stop_from") })
	wantStall(t, d, "migrations_up", ReasonDriftDetected, "changed after the backup")

	// No fingerprint observed, and no baseline: the guard cannot tell.
	dual := evidencePlan("dual_cluster", "")
	obs = baseObs()
	obs.FromDatabase, obs.ToDatabase, obs.Traffic, obs.Fingerprint = migrated(false), migrated(false), split(100, 0), nil
	dualUp := func(l *runLog) {
		l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "checks")
	}
	d, _ = decideOn(t, dual, obs, dualUp)
	wantStall(t, d, "traffic_50", ReasonObservationFailed, "fingerprint is not observed")

	obs.Fingerprint = &FingerprintFacts{Hash: "fp-x"}
	d, _ = decideOn(t, dual, obs, func(l *runLog) {
		l.ok("guard")
		i := l.intent("backup")
		l.add(Record{Kind: KindOutcome, Step: "backup", IntentSeq: i, Result: ResultOK, Details: map[string]string{"backup": "b1"}})
		l.ok("restore", "migrations_up", "migrations_finish", "start_to", "checks")
	})
	wantStall(t, d, "traffic_50", ReasonObservationFailed, "no configuration fingerprint")

	// A point of no return whose intent this run wrote is not guarded
	// again (it was crossed; finishing it is the only way on).
	obs = baseObs()
	obs.From, obs.FromDatabase, obs.SharedDatabase, obs.Traffic, obs.Fingerprint = down(), migrated(false), true, split(0, 100), nil
	d, _ = decideOn(t, bg, obs, func(l *runLog) { bgDone(l); l.intent("decommission") })
	wantRuns(t, d, "decommission")
}

// decommission against "unreadable" and "live".
func TestEvidenceDecommission(t *testing.T) {
	src := evidencePlan("dual_cluster", `  approve_in_advance = ["decommission"]`+"\n")
	log := func(l *runLog) {
		l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100")
	}
	obs := baseObs()
	obs.FromDatabase, obs.ToDatabase, obs.Traffic = migrated(false), migrated(false), split(0, 100)
	d, _ := decideOn(t, src, obs, log)
	wantRuns(t, d, "decommission")

	obs.Traffic = &TrafficFacts{Error: "get: exit 1"}
	d, _ = decideOn(t, src, obs, log)
	wantStall(t, d, "traffic_50", ReasonObservationFailed, "traffic split cannot be read")

	// Y not ready: decommission does not run (start_to, which only
	// starts Y and waits for it, comes first again).
	obs.Traffic, obs.To = split(0, 100), &NodeFacts{Reachable: true, Version: "3.9.1", ReadyReason: "no configuration"}
	d, _ = decideOn(t, src, obs, log)
	wantRuns(t, d, "start_to")
}

// The rollback's restore into X's database (rollback.restore = true, after
// blue-green's finish) against "unreadable" and "live".
func TestEvidenceRollbackRestore(t *testing.T) {
	src := evidencePlan("blue_green", "  approve_in_advance = [\"finish\"]\n  rollback {\n    requested = true\n    restore   = true\n  }\n")
	log := func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100", "stop_from", "migrations_finish")
	}
	obs := baseObs()
	obs.From, obs.To, obs.FromDatabase, obs.SharedDatabase, obs.Traffic = down(), down(), migrated(false), true, split(0, 100)
	d, _ := decideOn(t, src, obs, log)
	wantRuns(t, d, "rollback_restore")

	// A Y that does not answer in time is not a stopped Y: it may still
	// write to the database the restore replaces. It is stopped (to.stop)
	// first, and the restore waits for its address to refuse connections.
	obs.To = hungNode()
	d, _ = decideOn(t, src, obs, log)
	wantRuns(t, d, "rollback_stop_to")
	obs.To = down()

	obs.FromDatabase = unreadableDB()
	d, _ = decideOn(t, src, obs, log)
	wantStall(t, d, "rollback_restore", ReasonObservationFailed, "X's database cannot be read")

	obs.FromDatabase, obs.From = migrated(false), up("3.8.0")
	d, _ = decideOn(t, src, obs, log)
	wantStall(t, d, "rollback_restore", ReasonPreconditionFail, "a node answers at X")
}

// The backup is not taken again mid-run: a new one would move the restore
// point and make restore run again (the agent's end-to-end test gave each
// plan commit a new backup.dir; on main restore then dropped Y's database
// at 100% of traffic).
func TestEvidenceBackupNotRetakenMidRun(t *testing.T) {
	src := evidencePlan("dual_cluster", "")
	obs := baseObs()
	obs.FromDatabase, obs.ToDatabase, obs.Traffic = migrated(false), migrated(false), split(0, 100)
	obs.Backup = &BackupFacts{UnusableReason: "no backup"}
	d, _ := decideOn(t, src, obs, func(l *runLog) {
		l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100")
	})
	wantStall(t, d, "backup", ReasonPreconditionFail, "no longer the newest")

	obs.Backup = &BackupFacts{Error: "open /nonexistent/ev: permission denied"}
	d, _ = decideOn(t, src, obs, func(l *runLog) { l.ok("guard", "backup", "restore") })
	wantStall(t, d, "backup", ReasonObservationFailed, "backup directory cannot be read")

	// Before any later step, a missing backup is taken again.
	obs.Backup = &BackupFacts{UnusableReason: "no backup"}
	d, _ = decideOn(t, src, obs, func(l *runLog) { l.ok("guard", "backup") })
	wantRuns(t, d, "backup")
}

// A node that does not answer in time is not a stopped node: it may be
// stuck and still hold the database a point of no return changes. Only
// a refused connection (or an unreachable host) is evidence it stopped.
func TestEvidenceHungIsNotStopped(t *testing.T) {
	ip := evidencePlan("in_place", `  approve_in_advance = ["stop_current", "decommission"]`+"\n")
	obs := baseObs()
	obs.From, obs.To, obs.FromDatabase, obs.SharedDatabase = hungNode(), down(), unmigrated(), true
	d, _ := decideOn(t, ip, obs, func(l *runLog) { l.ok("guard", "backup", "stop_from") })
	wantRuns(t, d, "stop_from") // stopped again, then waited for until refused; never migrations_up
	obs.From = down()
	d, _ = decideOn(t, ip, obs, func(l *runLog) { l.ok("guard", "backup", "stop_from") })
	wantRuns(t, d, "migrations_up")

	bg := evidencePlan("blue_green", `  approve_in_advance = ["finish", "decommission"]`+"\n")
	obs = baseObs()
	obs.From, obs.FromDatabase, obs.SharedDatabase, obs.Traffic = hungNode(), migrated(true), true, split(0, 100)
	d, _ = decideOn(t, bg, obs, func(l *runLog) {
		l.ok("guard", "backup", "migrations_up", "start_to", "checks", "traffic_50", "pause_50", "traffic_100", "pause_100", "stop_from")
	})
	wantRuns(t, d, "stop_from") // never migrations_finish under a stuck X
}
