package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/plan"
)

// The observation's drivers (compile-time checks; drivers never import
// engine).
var (
	_ NodeReader      = (*kong.Client)(nil)
	_ DataPlaneLister = (*kong.Client)(nil)
	_ SchemaReader    = SchemaDB{}
	_ BackupReader    = (*backup.Driver)(nil)
	_ Fingerprinter   = (*backup.Driver)(nil)
	_ WeightReader    = Router(nil)
)

// obsDB returns a fresh database, bootstrapped at version v unless v is "".
func obsDB(t *testing.T, v string) string {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if v != "" {
		obsMigrate(t, dsn, v, "bootstrap")
	}
	return dsn
}

func obsMigrate(t *testing.T, dsn, v, cmd string) {
	t.Helper()
	code, out, errOut, err := kongsim.Migrate(context.Background(), dsn, v, cmd)
	if err != nil || code != 0 {
		t.Fatalf("kong migrations %s (%s): exit %d, %v\n%s%s", cmd, v, code, err, out, errOut)
	}
}

func obsStartSim(t *testing.T, v, dsn string) *kongsim.Node {
	t.Helper()
	n, err := kongsim.Start(context.Background(), kongsim.Config{Version: v, DSN: dsn,
		AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0", StatusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start kongsim %s: %v", v, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

// closedURL is an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	_ = l.Close()
	return u
}

func observe(t *testing.T, o *Observer) Observed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	obs, err := o.Observe(ctx)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	return obs
}

// loadPlan parses one plan from src.
func loadPlan(t *testing.T, src string) *plan.Plan {
	t.Helper()
	ps, diags := plan.NewParser().LoadSource("test.upshift.hcl", []byte(src))
	if diags.HasErrors() || len(ps) != 1 {
		t.Fatalf("plan: %d plans, %s", len(ps), diags.Error())
	}
	return ps[0]
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const dualPlan = `
upgrade "obs" {
  cluster  = "c1"
  strategy = "dual_cluster"
  from {
    version     = "3.8.0"
    admin_url   = env("X_ADMIN")
    admin_token = env("X_TOKEN")
    status_url  = env("X_STATUS")
    database { dsn = env("X_DSN") }
  }
  to {
    version   = "3.9.1"
    admin_url = env("Y_ADMIN")
    database { dsn = env("Y_DSN") }
    kong = ["kong"]
  }
  backup {
    dir = env_dir
  }
  traffic "command" {
    set = ["true"]
    get = ["echo", "90 10"]
  }
}
`

// X 3.8.0 bootstrapped and serving; Y 3.9.1 down, its own database empty.
func TestObserveDualCluster(t *testing.T) {
	xdb := obsDB(t, "3.8.0")
	ydb := obsDB(t, "")
	x := obsStartSim(t, "3.8.0", xdb)
	const token = "tok-0bs3rve-s3cret"
	src := strings.Replace(dualPlan, "env_dir", `"`+filepath.ToSlash(t.TempDir())+`"`, 1)
	p := loadPlan(t, src)
	o, err := NewObserver(p, envMap(map[string]string{
		"X_ADMIN": x.AdminURL(), "X_TOKEN": token, "X_STATUS": x.StatusURL(), "X_DSN": xdb,
		"Y_ADMIN": closedURL(t), "Y_DSN": ydb,
	}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	obs := observe(t, o)
	t.Logf("observed in %v", time.Since(start))

	if f := obs.From; f == nil || !f.Reachable || f.Version != "3.8.0" || f.Role != "traditional" ||
		f.Database != "postgres" || f.Edition != "community" || !f.Ready || f.ReadySource != "status_api" || f.Error != "" {
		t.Errorf("from = %+v", obs.From)
	}
	if f := obs.To; f == nil || f.Reachable || f.Error == "" || f.Ready || f.ReadyError == "" || f.ReadAt.IsZero() {
		t.Errorf("to = %+v, want unreachable with errors", obs.To)
	}
	xd := obs.FromDatabase
	if xd == nil || xd.Error != "" || xd.NeedsBootstrap || !xd.ForFrom.UpToDate || xd.ForFrom.Version != "3.8.0" {
		t.Fatalf("from_database = %+v", xd)
	}
	if len(xd.ForFrom.New) != 0 || !slices.Contains(xd.ForFrom.Executed["core"], "023_360_to_370") {
		t.Errorf("from_database for 3.8.0 = %+v", xd.ForFrom)
	}
	// X's untouched database, for Y's version: 3.9's core migration is new.
	if xd.ForTo.UpToDate || !slices.Equal(xd.ForTo.New["core"], []string{"024_380_to_390"}) {
		t.Errorf("from_database for 3.9.1 = %+v", xd.ForTo)
	}
	yd := obs.ToDatabase
	if yd == nil || yd.Error != "" || !yd.NeedsBootstrap || yd.ForTo.UpToDate || len(yd.ForTo.Executed) != 0 ||
		!slices.Contains(yd.ForTo.New["core"], "000_base") {
		t.Errorf("to_database = %+v, want needs bootstrap", yd)
	}
	if obs.SharedDatabase {
		t.Error("shared_database on a dual-cluster plan")
	}
	if tr := obs.Traffic; tr == nil || tr.Error != "" || tr.From != 90 || tr.To != 10 {
		t.Errorf("traffic = %+v", obs.Traffic)
	}
	if b := obs.Backup; b == nil || b.Error != "" || b.Present || b.Usable {
		t.Errorf("backup = %+v, want none", obs.Backup)
	}
	if fp := obs.Fingerprint; fp == nil || fp.Error != "" || len(fp.Hash) < 16 {
		t.Errorf("fingerprint = %+v", obs.Fingerprint)
	}
	if len(obs.DataPlanes) != 0 {
		t.Errorf("data planes on a traditional plan: %+v", obs.DataPlanes)
	}

	// A backup appears in the next observation: unusable until a test
	// restore succeeded, then usable.
	bd := o.Backups.(*backup.Driver)
	m, err := bd.Backup(context.Background())
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	bobs := observe(t, o)
	if b := bobs.Backup; b == nil || !b.Present || b.Usable || b.Name != m.Name || b.Kind != backup.KindPGDump ||
		!strings.Contains(b.UnusableReason, "not verified") || b.Fingerprint != bobs.Fingerprint.Hash {
		t.Errorf("backup after Backup = %+v (live fingerprint %s)", bobs.Backup, bobs.Fingerprint.Hash)
	}
	if _, err := backup.Verify(context.Background(), m, testenv.Postgres(t).AdminDSN()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if b := observe(t, o).Backup; !b.Present || !b.Usable || b.UnusableReason != "" || b.CreatedAt.IsZero() {
		t.Errorf("backup after Verify = %+v", b)
	}
	obs = bobs

	b, err := json.Marshal(obs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), token) {
		t.Error("the admin token is in Observed")
	}
	for _, key := range []string{`"needs_bootstrap":true`, `"up_to_date":true`, `"reachable":false`, `"from_database"`, `"read_at"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	var back Observed
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, obs) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", back, obs)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) {
		t.Errorf("JSON not stable:\n%s\n%s", b, b2)
	}
}

// Blue-green: Y's migrations ran on X's database; Y starts, then stops.
func TestObserveBlueGreen(t *testing.T) {
	db := obsDB(t, "3.8.0")
	x := obsStartSim(t, "3.8.0", db)
	obsMigrate(t, db, "3.9.1", "up")
	y := obsStartSim(t, "3.9.1", db)
	xc, err := kong.New(kong.Options{AdminURL: x.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	yc, err := kong.New(kong.Options{AdminURL: y.AdminURL(), StatusURL: y.StatusURL()})
	if err != nil {
		t.Fatal(err)
	}
	o := &Observer{FromVersion: kongrelease.MustParse("3.8.0"), ToVersion: kongrelease.MustParse("3.9.1"),
		From: xc, To: yc, FromDB: SchemaDB{DSN: db}, SharedDB: true}
	obs := observe(t, o)
	d := obs.FromDatabase
	if d == nil || d.Error != "" || !d.ForTo.UpToDate || len(d.ForTo.New) != 0 || !d.ForFrom.UpToDate {
		t.Fatalf("database after 3.9.1 up = %+v / for 3.9.1 %+v", d, d.ForTo)
	}
	if !slices.Contains(d.ForTo.Executed["core"], "024_380_to_390") {
		t.Errorf("for 3.9.1: executed = %v", d.ForTo.Executed)
	}
	if obs.ToDatabase != nil || !obs.SharedDatabase {
		t.Errorf("to_database = %+v shared %v", obs.ToDatabase, obs.SharedDatabase)
	}
	if f := obs.To; !f.Reachable || f.Version != "3.9.1" || !f.Ready {
		t.Errorf("to = %+v", f)
	}
	if f := obs.From; !f.Reachable || f.Version != "3.8.0" || !f.Ready || f.ReadySource != "admin_status" {
		t.Errorf("from = %+v", f)
	}

	// A held migrations lock (a runner that died) is reported.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(),
		`INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'node-7', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}

	if err := y.Stop(); err != nil {
		t.Fatal(err)
	}
	obs = observe(t, o) // a down Y is a fact, not an error
	if f := obs.To; f.Reachable || f.Error == "" || f.Ready || f.ReadyError == "" || f.Version != "" {
		t.Errorf("to after stop = %+v", f)
	}
	if !obs.From.Reachable {
		t.Errorf("from after Y stopped = %+v", obs.From)
	}
	locks := obs.FromDatabase.Locks
	if len(locks) != 1 || locks[0].Key != "migrations" || locks[0].Owner != "node-7" || locks[0].Expired ||
		locks[0].TTL.Before(obs.At.Add(50*time.Minute)) {
		t.Errorf("locks = %+v", locks)
	}
}

// 3.6.1 → 3.7.1 `up` leaves ai-proxy's 001_360_to_370 pending (it has a
// teardown): up to date for 3.7.1 (nothing new) with a finish to run.
// (3.5.0 → 3.6.1 leaves nothing pending: 3.6.x's redis moves have no
// teardown.)
func TestObserve361To371Pending(t *testing.T) {
	db := obsDB(t, "3.6.1")
	obsMigrate(t, db, "3.7.1", "up")
	o := &Observer{FromVersion: kongrelease.MustParse("3.6.1"), ToVersion: kongrelease.MustParse("3.7.1"),
		FromDB: SchemaDB{DSN: db}}
	obs := observe(t, o)
	d := obs.FromDatabase
	if d == nil || d.Error != "" {
		t.Fatalf("database = %+v", d)
	}
	if !slices.Contains(d.ForTo.Pending["ai-proxy"], "001_360_to_370") || !d.ForTo.UpToDate || len(d.ForTo.New) != 0 {
		t.Errorf("for 3.7.1 = %+v", d.ForTo)
	}
	if slices.Contains(d.ForTo.Executed["ai-proxy"], "001_360_to_370") {
		t.Errorf("001_360_to_370 executed before finish: %v", d.ForTo.Executed)
	}
	if !d.ForFrom.UpToDate || len(d.ForFrom.Pending) != 0 {
		t.Errorf("for 3.6.1 = %+v", d.ForFrom)
	}
	if len(d.Locks) != 0 {
		t.Errorf("locks = %+v", d.Locks)
	}
}

// An unreachable database is recorded in Observed, without the DSN's
// password; a cancelled context is Observe's only error.
func TestObserveErrors(t *testing.T) {
	const pw = "pw-never-shown"
	p := loadPlan(t, `
upgrade "obs-err" {
  cluster  = "c1"
  strategy = "blue_green"
  from {
    version   = "3.8.0"
    admin_url = env("X_ADMIN")
    database { dsn = env("X_DSN") }
  }
  to {
    version   = "3.9.1"
    admin_url = env("X_ADMIN")
    kong = ["kong"]
  }
}`)
	dead := closedURL(t)
	dsn := "postgres://kong:" + pw + "@" + strings.TrimPrefix(dead, "http://") + "/kong?sslmode=disable&connect_timeout=5"
	o, err := NewObserver(p, envMap(map[string]string{"X_ADMIN": dead, "X_DSN": dsn}))
	if err != nil {
		t.Fatal(err)
	}
	obs := observe(t, o)
	if d := obs.FromDatabase; d == nil || d.Error == "" || d.ForFrom != nil {
		t.Errorf("from_database = %+v, want an error", d)
	}
	if !obs.SharedDatabase || obs.ToDatabase != nil {
		t.Errorf("blue-green: shared %v to_database %+v", obs.SharedDatabase, obs.ToDatabase)
	}
	if fp := obs.Fingerprint; fp == nil || fp.Error == "" {
		t.Errorf("fingerprint = %+v, want an error", fp)
	}
	b, _ := json.Marshal(obs)
	if strings.Contains(string(b), pw) {
		t.Errorf("the DSN password is in Observed: %s", b)
	}

	if _, err := NewObserver(p, envMap(map[string]string{"X_ADMIN": dead})); err == nil || !strings.Contains(err.Error(), "X_DSN") {
		t.Errorf("unset X_DSN: err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	obs, err = o.Observe(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Observe: err = %v", err)
	}
	if obs.From == nil || obs.From.Reachable || obs.From.Error == "" {
		t.Errorf("cancelled Observe: from = %+v", obs.From)
	}
}

// A DB-less plan with literal values: no database parts, the fingerprint
// from X's Admin API, and no environment lookups.
func TestNewObserverDBless(t *testing.T) {
	p := loadPlan(t, `
upgrade "obs-dbless" {
  cluster  = "c1"
  strategy = "blue_green"
  mode     = "dbless"
  from {
    version   = "3.8.0"
    admin_url = "http://127.0.0.1:1"
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:2"
  }
}`)
	var asked []string
	o, err := NewObserver(p, func(k string) (string, bool) { asked = append(asked, k); return "", false })
	if err != nil || len(asked) != 0 {
		t.Fatalf("err %v, asked %v", err, asked)
	}
	if o.FromDB != nil || o.ToDB != nil || o.SharedDB || o.Traffic != nil || o.Backups != nil || o.From == nil || o.To == nil {
		t.Errorf("observer = %+v", o)
	}
	d, ok := o.Fingerprint.(*backup.Driver)
	if !ok || d.Options.DSN != "" || d.Options.Admin == nil || d.Options.Admin.AdminURL() != "http://127.0.0.1:1" {
		t.Errorf("fingerprint driver = %+v", o.Fingerprint)
	}
}

// A hybrid_cp plan: X's control plane lists its data plane (version,
// sync_status, config_hash); Y's control plane is down, which is recorded.
func TestObserveHybridDataPlanes(t *testing.T) {
	db := obsDB(t, "3.8.0")
	cp, err := kongsim.Start(context.Background(), kongsim.Config{Version: "3.8.0", DSN: db, Role: "control_plane",
		AdminListen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	dp, err := kongsim.Start(context.Background(), kongsim.Config{Version: "3.8.0", Role: "data_plane", Database: "off",
		ControlPlane: cp.ClusterURL(), Hostname: "dp-obs", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Stop() })
	p := loadPlan(t, `
upgrade "obs-hybrid" {
  cluster  = "c1"
  strategy = "blue_green"
  mode     = "hybrid_cp"
  from {
    version   = "3.8.0"
    admin_url = env("X_ADMIN")
    database { dsn = env("X_DSN") }
  }
  to {
    version   = "3.9.1"
    admin_url = env("Y_ADMIN")
    kong = ["kong"]
  }
}`)
	o, err := NewObserver(p, envMap(map[string]string{"X_ADMIN": cp.AdminURL(), "X_DSN": db, "Y_ADMIN": closedURL(t)}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		obs := observe(t, o)
		if len(obs.DataPlanes) != 2 || obs.DataPlanes[0].Source != "from" || obs.DataPlanes[1].Source != "to" {
			t.Fatalf("data_planes = %+v", obs.DataPlanes)
		}
		if obs.DataPlanes[1].Error == "" {
			t.Errorf("to's control plane is down but no error: %+v", obs.DataPlanes[1])
		}
		x := obs.DataPlanes[0]
		if x.Error != "" {
			t.Fatalf("from's data planes: %s", x.Error)
		}
		if len(x.Planes) == 1 && x.Planes[0].SyncStatus == "normal" && x.Planes[0].ConfigHash != "" {
			if d := x.Planes[0]; d.Hostname != "dp-obs" || d.Version != "3.8.0" || d.ID == "" {
				t.Errorf("data plane = %+v", d)
			}
			if obs.From.Role != "control_plane" {
				t.Errorf("from = %+v", obs.From)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("data plane not listed as synced within 15s: %+v", x)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline, not synchronisation by sleep
	}
}
