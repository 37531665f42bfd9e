package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestVerifyReclaimsScratchOfKilledRun: a process killed (SIGKILL) while
// its rehearsal runs on the scratch copy leaves that database behind; the
// next backup's verification on the server drops it first and logs it. It
// leaves alone a scratch database whose owner is alive (a rehearsal
// running in this process), one without an owner's pid in its name (an
// older version's), and one whose owner is gone but that a session is
// connected to (logged as not dropped, with PostgreSQL's reason).
func TestVerifyReclaimsScratchOfKilledRun(t *testing.T) {
	ctx := context.Background()
	pg, dsn, m, admin := verifyFixture(t)
	exists := func(db string) bool {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	const unowned = "upshift_verify_00000000b5ed"
	var inUseDB string
	t.Cleanup(func() {
		for _, db := range []string{unowned, inUseDB} {
			if db != "" {
				_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
			}
		}
	})

	// Alive: a rehearsal in this process holds its scratch database.
	hold, held := make(chan struct{}), make(chan string, 1)
	liveDone := make(chan error, 1)
	go func() {
		_, err := VerifyThen(ctx, m, pg.AdminDSN(), func(ctx context.Context, scratchDSN string) error {
			held <- dbOf(t, scratchDSN)
			<-hold
			return nil
		})
		liveDone <- err
	}()
	var live string
	select {
	case live = <-held:
	case err := <-liveDone:
		t.Fatalf("the live rehearsal ended early: %v", err)
	}
	defer func() { close(hold); <-liveDone }()

	// Killed: a child process verifies m and, on the scratch copy, waits.
	child := exec.Command(os.Args[0], "-test.run", "^TestReclaimChild$", "-test.v")
	child.Env = append(os.Environ(), "UPSHIFT_TEST_RECLAIM_CHILD="+m.Path(), "UPSHIFT_TEST_RECLAIM_DSN="+pg.AdminDSN())
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if db, ok := strings.CutPrefix(sc.Text(), "RECLAIM-READY "); ok {
				ready <- db
			}
		}
		close(ready)
	}()
	var killed string
	select {
	case killed = <-ready:
	case <-time.After(2 * time.Minute):
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if killed == "" || !exists(killed) {
		t.Fatalf("the child's scratch database %q is not there to reclaim", killed)
	}
	waitSessionGone(t, admin, ownerPid(t, killed))

	// No owner's pid in the name; and an owner gone but a session
	// connected.
	if err := createDatabase(ctx, admin, unowned); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	var otherPid int
	if err := other.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&otherPid); err != nil {
		t.Fatal(err)
	}
	inUseDB = fmt.Sprintf("upshift_verify_%d_0000000000c0", otherPid)
	if err := createDatabase(ctx, other, inUseDB); err != nil {
		t.Fatal(err)
	}
	other.Close(ctx)
	waitSessionGone(t, admin, otherPid)
	inUse, err := pgx.Connect(ctx, withDB(t, pg.AdminDSN(), inUseDB))
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close(ctx)

	logs := &strings.Builder{}
	d := &Driver{Options: Options{DSN: dsn, Dir: m.Dir(), Plan: "p", Logger: slog.New(slog.NewTextHandler(logs, nil))}, VerifyDSN: pg.AdminDSN()}
	m2, err := d.Backup(ctx)
	if err != nil || m2.Usable() != nil {
		t.Fatalf("backup: %v, %v", err, m2.Usable())
	}
	if exists(killed) {
		t.Fatalf("the killed run's %s is still there; log:\n%s", killed, logs)
	}
	// With a server shared by parallel test packages, another package's
	// verification may have reclaimed it first.
	if shared := os.Getenv("UPSHIFT_TEST_DATABASE_URL") != ""; !shared && !strings.Contains(logs.String(), "dropped a scratch database left by a killed verification or rehearsal\" database="+killed) {
		t.Errorf("the drop of %s is not logged:\n%s", killed, logs)
	}
	if !strings.Contains(logs.String(), "could not be dropped; drop it by hand\" database="+inUseDB) || !strings.Contains(logs.String(), "being accessed by other users") {
		t.Errorf("the scratch database in use is not logged as kept:\n%s", logs)
	}
	for _, db := range []string{live, unowned, inUseDB} {
		if !exists(db) {
			t.Errorf("scratch database %s was dropped", db)
		}
	}
}

// TestVerifyStopsWhenItsSessionIsLost: the admin session that owns a
// scratch database is ended (pg_terminate_backend, as an idle timeout or a
// pooler would) while the rehearsal runs on it; the heartbeat finds it
// lost and cancels the rehearsal with that reason, the backup's
// verification stays recorded as it was (OK), and the database, whose
// owner's session is gone, is reclaimed by the next look.
func TestVerifyStopsWhenItsSessionIsLost(t *testing.T) {
	ctx := context.Background()
	pg, _, m, admin := verifyFixture(t)
	defer func(d time.Duration) { scratchHeartbeat = d }(scratchHeartbeat)
	scratchHeartbeat = 20 * time.Millisecond
	var scratch string
	v, err := VerifyThen(ctx, m, pg.AdminDSN(), func(ctx context.Context, scratchDSN string) error {
		scratch = dbOf(t, scratchDSN)
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, ownerPid(t, scratch)); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return errors.New("the rehearsal was not stopped within a minute")
		}
	})
	if err == nil || !strings.Contains(err.Error(), "the session that owns scratch database "+scratch+" was lost") {
		t.Fatalf("VerifyThen: %v", err)
	}
	if v == nil || !v.OK || m.Usable() != nil {
		t.Fatalf("verification %+v, usable: %v", v, m.Usable())
	}
	r, err := ReclaimScratch(ctx, pg.AdminDSN())
	if err != nil || !slices.Contains(r.Dropped, scratch) {
		t.Fatalf("reclaim: %+v, %v (scratch %s)", r, err, scratch)
	}
}

// TestVerifyDoesNotBlameTheBackupForALostSession: the owner's session is
// ended and its scratch database dropped (as another verification may,
// once the session is gone) before pg_restore starts, between two
// heartbeats; pg_restore fails, and the verification reports the lost
// session instead of recording the backup as failing its test restore.
func TestVerifyDoesNotBlameTheBackupForALostSession(t *testing.T) {
	ctx := context.Background()
	pg, _, m, admin := verifyFixture(t)
	defer func() { scratchCreated = nil }()
	var scratch string
	scratchCreated = func(db string) {
		scratch = db
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, ownerPid(t, db)); err != nil {
			t.Error(err)
		}
		waitSessionGone(t, admin, ownerPid(t, db))
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			t.Error(err)
		}
	}
	v, err := Verify(ctx, m, pg.AdminDSN())
	if err == nil || !strings.Contains(err.Error(), "the session that owns scratch database "+scratch+" was lost") {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	if m.Verification != nil {
		t.Fatalf("the backup was blamed: %+v", m.Verification)
	}
}

// verifyFixture: a small Kong database (dsn), a backup of it (m, not
// verified), and a connection to the verify server.
func verifyFixture(t *testing.T) (*testenv.PG, string, *Manifest, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	pg := testenv.Postgres(t)
	dsn := bootstrapped(t, "3.9.1")
	if _, err := kongsim.Seed(ctx, dsn, "3.9.1", kongsim.SeedSpec{Services: 5, Routes: 5, Consumers: 5, KeyAuth: 5, RateLimiting: 5}); err != nil {
		t.Fatal(err)
	}
	m, err := Backup(ctx, Options{DSN: dsn, Dir: t.TempDir(), Plan: "p"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return pg, dsn, m, admin
}

// ownerPid is the owner's pid in a scratch database's name.
func ownerPid(t *testing.T, db string) int {
	t.Helper()
	m := reScratch.FindStringSubmatch(db)
	if m == nil {
		t.Fatalf("scratch database %q has no owner's pid in its name", db)
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitSessionGone polls until no session has pid.
func waitSessionGone(t *testing.T, admin *pgx.Conn, pid int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var gone bool
		if err := admin.QueryRow(context.Background(), `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&gone); err != nil {
			t.Fatal(err)
		}
		if gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d is still on the server after a minute", pid)
		}
	}
}

// TestReclaimChild is TestVerifyReclaimsScratchOfKilledRun's child: it
// verifies the manifest it is given and, on the scratch copy, waits to be
// killed.
func TestReclaimChild(t *testing.T) {
	p := os.Getenv("UPSHIFT_TEST_RECLAIM_CHILD")
	if p == "" {
		t.Skip("run by TestVerifyReclaimsScratchOfKilledRun")
	}
	m, err := LoadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyThen(context.Background(), m, os.Getenv("UPSHIFT_TEST_RECLAIM_DSN"), func(ctx context.Context, scratchDSN string) error {
		fmt.Printf("RECLAIM-READY %s\n", dbOf(t, scratchDSN))
		select {} // until killed
	})
	t.Fatalf("verification ended: %v", err)
}

func dbOf(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Error(err)
		return ""
	}
	return path.Base(u.Path)
}

func withDB(t *testing.T, dsn, db string) string {
	d, err := withDatabase(dsn, db)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
