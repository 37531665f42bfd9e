package backup

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestVerifyReclaimsScratchOfKilledRun: a process killed (SIGKILL) while
// its rehearsal runs on the scratch copy leaves that database behind; the
// next verification on the server drops it and names it in the manifest
// (reclaimed_scratch). It leaves alone a scratch database whose owner is
// alive (a rehearsal running in this process), one without the owner's
// comment, and one whose owner is gone but that a session is connected to.
func TestVerifyReclaimsScratchOfKilledRun(t *testing.T) {
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
	defer admin.Close(ctx)
	exists := func(db string) bool {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	t.Cleanup(func() {
		for _, db := range []string{"upshift_verify_00000000dead", "upshift_verify_00000000b5ed", "upshift_verify_0000000000c0"} {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
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
	var owner string
	if err := admin.QueryRow(ctx, `SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1`, killed).Scan(&owner); err != nil || !strings.HasPrefix(owner, scratchOwner) {
		t.Fatalf("scratch database %s has comment %q (%v)", killed, owner, err)
	}
	gone := false
	for deadline := time.Now().Add(time.Minute); !gone && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := admin.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1::int)`, strings.TrimPrefix(owner, scratchOwner)).Scan(&gone); err != nil {
			t.Fatal(err)
		}
	}
	if !gone {
		t.Fatalf("the killed child's session (%s) is still on the server after a minute", owner)
	}

	// No owner comment; and an owner gone but a session connected.
	if err := createDatabase(ctx, admin, "upshift_verify_00000000b5ed"); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := createDatabase(ctx, other, "upshift_verify_0000000000c0"); err != nil {
		t.Fatal(err)
	}
	if err := markScratch(ctx, other, "upshift_verify_0000000000c0"); err != nil {
		t.Fatal(err)
	}
	other.Close(ctx)
	inUse, err := pgx.Connect(ctx, withDB(t, pg.AdminDSN(), "upshift_verify_0000000000c0"))
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close(ctx)

	v, err := Verify(ctx, m, pg.AdminDSN())
	if err != nil || !v.OK {
		t.Fatalf("verification: %+v, %v", v, err)
	}
	if !slices.Equal(v.Reclaimed, []string{killed}) || exists(killed) {
		t.Fatalf("reclaimed %v (killed run's %s still there: %v)", v.Reclaimed, killed, exists(killed))
	}
	for _, db := range []string{live, "upshift_verify_00000000b5ed", "upshift_verify_0000000000c0"} {
		if !exists(db) {
			t.Errorf("scratch database %s was dropped", db)
		}
	}
	saved, err := LoadManifest(m.Path())
	if err != nil || !slices.Equal(saved.Verification.Reclaimed, []string{killed}) {
		t.Fatalf("manifest: %+v, %v", saved.Verification, err)
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
