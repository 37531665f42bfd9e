package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/traffic"
)

// This file is the engine's observation (architecture.md, "Reconcile"):
// Observed is what the world says now, read from outside and never from
// memory; Observer reads it through small driver interfaces declared here.
// observe_build.go builds an Observer from a plan.

// NodeReader is what the observation needs of one Kong node; *kong.Client
// implements it. Both methods are read-only and safe to repeat;
// cancellation abandons the request and returns an error.
type NodeReader interface {
	// Info reads GET / (version, edition, role, database mode).
	Info(ctx context.Context) (kong.NodeInfo, error)
	// Ready asks the node, of version v, whether traffic may go to it. "Not
	// ready" is a Readiness, not an error; an error is a failed request.
	Ready(ctx context.Context, v kongrelease.Version) (kong.Readiness, error)
}

// DataPlaneLister lists a control plane's data planes
// (/clustering/data-planes); *kong.Client implements it. Read-only, safe
// to repeat; cancellation returns an error.
type DataPlaneLister interface {
	DataPlanes(ctx context.Context) ([]kong.DataPlane, error)
}

// SchemaReader reads Kong's schema_meta and locks tables of one database;
// SchemaDB implements it. Read-only, safe to repeat; cancellation returns
// an error. Errors never carry the DSN's password.
type SchemaReader interface {
	ReadSchema(ctx context.Context) (kong.SchemaState, error)
}

// SchemaDB is a SchemaReader on the database at DSN (kong.ReadSchema: one
// connection per read, closed afterwards). Content, when set, makes its
// ReadDatabase also read what the database holds (empty or not, and its
// configuration fingerprint): Y's own database, which a restore replaces.
type SchemaDB struct {
	DSN     string
	Content bool
}

// ReadSchema reads the database's schema state.
func (s SchemaDB) ReadSchema(ctx context.Context) (kong.SchemaState, error) {
	return kong.ReadSchema(ctx, s.DSN)
}

// DatabaseReader is a SchemaReader that also tells an absent database from
// an unreachable one and reads what runs on it and what it holds; SchemaDB
// implements it. Read-only, safe to repeat.
type DatabaseReader interface {
	ReadDatabase(ctx context.Context) (DatabaseRead, error)
}

// DatabaseRead is one ReadDatabase: the schema state, or Absent (the
// server answered that the database does not exist), the backends at work
// on it, and, for a SchemaDB with Content, whether it holds any table and
// its configuration fingerprint.
type DatabaseRead struct {
	Absent      bool
	Schema      kong.SchemaState
	Activity    []BackendFacts
	Content     bool // Empty, Fingerprint and Mark were read
	Empty       bool
	Fingerprint string
	Mark        *backup.RestoreMark // Upshift's restore marker, when the database has one
}

// ReadDatabase reads the database at DSN on one connection.
func (s SchemaDB) ReadDatabase(ctx context.Context) (DatabaseRead, error) {
	var r DatabaseRead
	cfg, err := pgx.ParseConfig(s.DSN)
	if err != nil {
		return r, errors.New("read database: the DSN does not parse")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
			r.Absent = true
			return r, nil
		}
		return r, &kong.Error{Op: "read database", Target: cfg.Database, Err: err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if r.Schema, err = kong.ReadSchemaFrom(ctx, conn); err != nil {
		return r, &kong.Error{Op: "read schema_meta", Target: cfg.Database, Err: err}
	}
	if r.Activity, err = readActivity(ctx, conn); err != nil {
		return r, &kong.Error{Op: "read pg_stat_activity", Target: cfg.Database, Err: err}
	}
	if !s.Content {
		return r, nil
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&n); err != nil {
		return r, &kong.Error{Op: "inspect", Target: cfg.Database, Err: err}
	}
	r.Content, r.Empty = true, n == 0
	if mk, ok, err := backup.ReadRestoreMark(ctx, conn); err != nil {
		return r, &kong.Error{Op: "inspect", Target: cfg.Database, Err: err}
	} else if ok {
		r.Mark = &mk
	}
	if r.Empty {
		return r, nil
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, &kong.Error{Op: "fingerprint", Target: cfg.Database, Err: err}
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	fp, err := backup.FingerprintDB(ctx, tx)
	if err != nil {
		return r, &kong.Error{Op: "fingerprint", Target: cfg.Database, Err: err}
	}
	r.Fingerprint = fp.Hash
	return r, nil
}

// readActivity lists the other client backends on the connection's
// database that are at work (not idle). The query text is never kept (it
// may quote credentials); Migration says whether it is Kong's migration
// form ("BEGIN;" then the migration's SQL then "COMMIT;", in one simple
// query, kong-upgrade-failures.md §1) or cannot be seen at all.
func readActivity(ctx context.Context, conn *pgx.Conn) ([]BackendFacts, error) {
	rows, err := conn.Query(ctx, `SELECT pid, coalesce(application_name, ''), coalesce(state, ''), coalesce(xact_start, query_start, backend_start),
		       coalesce(query, '') LIKE 'BEGIN;%' OR coalesce(query, '') ILIKE '%schema_meta%' OR coalesce(query, '') = '<insufficient privilege>'
		FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
		  AND state IS DISTINCT FROM 'idle'
		ORDER BY pid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BackendFacts, error) {
		var b BackendFacts
		err := r.Scan(&b.PID, &b.Application, &b.State, &b.Since, &b.Migration)
		b.Since = b.Since.UTC()
		return b, err
	})
}

// BackupReader finds a plan's newest backup; *backup.Driver (and every
// Backups) implements it. Read-only; nil without error when there is none.
type BackupReader interface {
	Latest(ctx context.Context) (*backup.Manifest, error)
}

// Fingerprinter computes the live configuration fingerprint;
// *backup.Driver implements it. Read-only, safe to repeat.
type Fingerprinter interface {
	Fingerprint(ctx context.Context) (backup.Fingerprint, error)
}

// WeightReader reads the traffic split back from the load balancer; every
// Router implements it.
type WeightReader interface {
	Weights(ctx context.Context) (Weights, error)
}

// Observed is one observation of the world a plan acts on. It is a plain
// value: JSON with stable lower_snake keys (what `upshift plan` prints and
// tests compare). Every part carries the time it was read and, when it
// could not be read, an error string instead of facts: nothing in it is
// remembered or guessed. A part the plan does not call for is nil or empty.
// No secret (token, DSN password) is ever part of it.
type Observed struct {
	// At is when the observation started.
	At time.Time `json:"at"`
	// From and To are X's and Y's node (the side's admin_url); a rolling
	// side lists its nodes in FromNodes/ToNodes instead or as well.
	From      *NodeFacts  `json:"from,omitempty"`
	To        *NodeFacts  `json:"to,omitempty"`
	FromNodes []NodeFacts `json:"from_nodes,omitempty"`
	ToNodes   []NodeFacts `json:"to_nodes,omitempty"`
	// ControlPlane is the control plane a hybrid_dp plan's data planes
	// join (its control_plane block).
	ControlPlane *NodeFacts `json:"control_plane,omitempty"`
	// FromDatabase is X's database, classified for X's and Y's versions.
	// ToDatabase is Y's own database (dual-cluster); nil when Y shares X's
	// (SharedDatabase) or the plan has none (DB-less).
	FromDatabase   *DatabaseFacts `json:"from_database,omitempty"`
	ToDatabase     *DatabaseFacts `json:"to_database,omitempty"`
	SharedDatabase bool           `json:"shared_database,omitempty"`
	// Traffic is the split read from the load balancer, when the plan has one.
	Traffic *TrafficFacts `json:"traffic,omitempty"`
	// DataPlanes are the data planes of the hybrid plan's control planes.
	DataPlanes []DataPlaneFacts `json:"data_planes,omitempty"`
	// Backup is the plan's newest backup, when the plan has a backup block.
	Backup *BackupFacts `json:"backup,omitempty"`
	// Fingerprint is X's live configuration fingerprint.
	Fingerprint *FingerprintFacts `json:"fingerprint,omitempty"`
	// ToConfig is the content of Y's own database (dual-cluster), read
	// only for the guard (ReadToConfig: a full read of Y's entity tables
	// is too much for every observation): the guard refuses a Y that holds
	// a configuration no run of this journal gave it (docs/runs.md).
	ToConfig *FingerprintFacts `json:"to_config,omitempty"`
}

// NodeFacts is what one Kong node says about itself. Reachable means its
// Admin API answered GET /; a node that is down is a fact (Reachable
// false, Error saying why), not an error of the observation.
type NodeFacts struct {
	Name      string    `json:"name,omitempty"` // rolling node name; "" for the side's node
	ReadAt    time.Time `json:"read_at"`
	Error     string    `json:"error,omitempty"` // GET / failed
	Reachable bool      `json:"reachable"`
	Version   string    `json:"version,omitempty"`
	Edition   string    `json:"edition,omitempty"`
	Role      string    `json:"role,omitempty"`
	Database  string    `json:"database,omitempty"` // postgres | off
	NodeID    string    `json:"node_id,omitempty"`
	// MasterPID is GET / pids.master: with NodeID, the node's identity
	// (a restart changes it; node_id survives one in the prefix).
	MasterPID int `json:"master_pid,omitempty"`
	// Ready is the node's readiness (Status API from 3.3 when configured,
	// else Admin /status), asked with the observed version or, when GET /
	// failed, the plan's. ReadyError is set when readiness could not be
	// read at all (then Ready is false).
	Ready             bool   `json:"ready"`
	ReadySource       string `json:"ready_source,omitempty"`
	ReadyReason       string `json:"ready_reason,omitempty"`
	ReadyError        string `json:"ready_error,omitempty"`
	ConfigurationHash string `json:"configuration_hash,omitempty"`
	// Refused: GET / failed because nothing listens at the address (the
	// connection was refused) or the host is unreachable: positive
	// evidence that the node is not running. A timeout or a reset is not:
	// a hung node may still serve and write.
	Refused bool `json:"refused,omitempty"`
	// Rejected: the node answered GET / with 401/403: it is up, and the
	// plan's admin_token is wrong (or missing).
	Rejected bool `json:"rejected,omitempty"`
}

// unreadable says why GET / gave no facts, for messages: a rejected
// token is not an unreachable node.
func (f *NodeFacts) unreadable() string {
	if f.Rejected {
		return "rejected the admin token: " + f.Error
	}
	return "is not reachable: " + f.Error
}

// hung: GET / failed without the connection being refused: the node may
// be stopped behind a firewall, or alive and stuck; a destructive step
// does not take it as stopped.
func hung(f *NodeFacts) bool { return f != nil && !f.Reachable && !f.Refused }

// refused tells a node that is not there (connection refused, host
// unreachable) from one that does not answer in time.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// DatabaseFacts is the migration state of one Kong database: schema_meta
// classified against Kong's catalogue for X's and for Y's version (never
// from `kong migrations list`'s exit code), and the locks table's rows.
type DatabaseFacts struct {
	ReadAt time.Time `json:"read_at"`
	Error  string    `json:"error,omitempty"`
	// NeedsBootstrap: no schema_meta table or no core row in it.
	NeedsBootstrap bool `json:"needs_bootstrap"`
	// ForFrom and ForTo are the classification for X's and Y's versions;
	// nil when the database could not be read.
	ForFrom *MigrationFacts `json:"for_from,omitempty"`
	ForTo   *MigrationFacts `json:"for_to,omitempty"`
	// Locks are the rows of Kong's locks table (the migrations lock is key
	// "migrations"), expired or not; a leftover row means a runner died.
	Locks []LockFacts `json:"locks,omitempty"`
	// Absent: the server answered that the database does not exist (a
	// fact, not an error: Error is empty and NeedsBootstrap true).
	Absent bool `json:"absent,omitempty"`
	// Activity lists the other backends at work on the database
	// (pg_stat_activity, idle ones left out).
	Activity []BackendFacts `json:"activity,omitempty"`
	// ContentRead: Empty and Fingerprint were read (Y's own database).
	// Empty: no table at all; Fingerprint: the configuration fingerprint
	// of what it holds (backup.FingerprintDB), "" when empty.
	ContentRead bool   `json:"content_read,omitempty"`
	Empty       bool   `json:"empty,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Restore is Upshift's restore marker on the database (see
	// backup.Restore): the archive restored, or being restored, into it.
	Restore *RestoreFacts `json:"restore,omitempty"`
}

// RestoreFacts is Upshift's marker on a database it restores into.
type RestoreFacts struct {
	Owned    bool   `json:"owned"`    // Upshift created it (or was given it empty)
	State    string `json:"state"`    // restoring | restored
	Manifest string `json:"manifest"` // SHA-256 of the archive
}

// BackendFacts is one backend at work on a database.
type BackendFacts struct {
	PID         int       `json:"pid"`
	Application string    `json:"application,omitempty"`
	State       string    `json:"state"`
	Since       time.Time `json:"since"` // its transaction's (or query's) start
	// Migration: its query has the form of Kong's migration step, or
	// cannot be seen (insufficient privilege), so it may be one.
	Migration bool `json:"migration,omitempty"`
}

// MigrationRunning names a backend that may be running a migration, or
// a live migrations lock ("" when there is neither).
func (f *DatabaseFacts) MigrationRunning() string {
	for _, b := range f.Activity {
		if b.Migration {
			return fmt.Sprintf("backend %d (%s, %s since %s) may be running a migration", b.PID, b.Application, b.State, b.Since.Format(time.RFC3339))
		}
	}
	for _, l := range f.Locks {
		if l.Key == "migrations" && !l.Expired {
			return fmt.Sprintf("the migrations lock is held by %s until %s", l.Owner, l.TTL.Format(time.RFC3339))
		}
	}
	return ""
}

// MigrationFacts is one version's classification of a database, per
// subsystem: the names in each state, subsystems with none left out.
type MigrationFacts struct {
	Version string `json:"version"`
	// UpToDate: bootstrapped and nothing new for this version (pending
	// migrations, to be finished, do not count).
	UpToDate bool                `json:"up_to_date"`
	Executed map[string][]string `json:"executed"`
	Pending  map[string][]string `json:"pending"`
	New      map[string][]string `json:"new"`
	Missing  map[string][]string `json:"missing"`
}

// LockFacts is one row of Kong's locks table.
type LockFacts struct {
	Key     string    `json:"key"`
	Owner   string    `json:"owner"`
	TTL     time.Time `json:"ttl"`
	Expired bool      `json:"expired"` // ttl before the read; Kong deletes such rows lazily
}

// TrafficFacts is the split the load balancer reports.
type TrafficFacts struct {
	ReadAt time.Time `json:"read_at"`
	Error  string    `json:"error,omitempty"`
	// NotLoaded: the load balancer's configuration was written and not
	// loaded (nginx: a reload is missing, e.g. after a crash between the
	// two; traffic.NotLoadedError). What it routes is unknown (Error is
	// set), but setting the weights again is the known way out.
	NotLoaded bool `json:"not_loaded,omitempty"`
	From      int  `json:"from"` // percent to X
	To        int  `json:"to"`   // percent to Y
}

// DataPlaneFacts is what one control plane says of its data planes.
type DataPlaneFacts struct {
	// Source is the control plane: "from", "to" (hybrid_cp sides) or
	// "control_plane" (hybrid_dp's control_plane block).
	Source string          `json:"source"`
	ReadAt time.Time       `json:"read_at"`
	Error  string          `json:"error,omitempty"`
	Planes []DataPlaneFact `json:"planes"`
}

// DataPlaneFact is one data plane, sorted by hostname then ID.
type DataPlaneFact struct {
	ID         string `json:"id"`
	Hostname   string `json:"hostname"`
	IP         string `json:"ip"`
	Version    string `json:"version"`
	SyncStatus string `json:"sync_status"`
	ConfigHash string `json:"config_hash"`
	LastSeen   int64  `json:"last_seen"`
}

// BackupFacts is the plan's newest backup. Present is false when there is
// none; Usable is Manifest.Usable() == nil (a test restore succeeded), and
// UnusableReason says why not.
type BackupFacts struct {
	ReadAt         time.Time `json:"read_at"`
	Error          string    `json:"error,omitempty"`
	Present        bool      `json:"present"`
	Name           string    `json:"name,omitempty"`
	Kind           string    `json:"kind,omitempty"`
	KongVersion    string    `json:"kong_version,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	Fingerprint    string    `json:"fingerprint,omitempty"`
	SHA256         string    `json:"sha256,omitempty"` // the archive's
	Usable         bool      `json:"usable"`
	UnusableReason string    `json:"unusable_reason,omitempty"`
}

// FingerprintFacts is X's live configuration fingerprint.
type FingerprintFacts struct {
	ReadAt time.Time        `json:"read_at"`
	Error  string           `json:"error,omitempty"`
	Hash   string           `json:"hash,omitempty"`
	Counts map[string]int64 `json:"counts,omitempty"`
}

// NamedNode is a rolling side's node.
type NamedNode struct {
	Name   string
	Reader NodeReader
}

// DataPlaneSource is a control plane whose data planes are observed.
type DataPlaneSource struct {
	Source string // "from" | "to" | "control_plane"
	Lister DataPlaneLister
}

// Observer reads Observed through its drivers. A nil driver is a part the
// plan does not call for (left out of Observed). Build one with
// NewObserver, or fill the fields directly (tests). Safe for concurrent
// use once built; Observe does not change it.
type Observer struct {
	// FromVersion and ToVersion are the plan's versions: the
	// classification targets, and the version readiness is asked with when
	// a node does not answer GET /.
	FromVersion, ToVersion kongrelease.Version

	From, To           NodeReader
	FromNodes, ToNodes []NamedNode
	// ControlPlane is a hybrid_dp plan's control plane; CPVersion the
	// plan's control_plane.version.
	ControlPlane NodeReader
	CPVersion    kongrelease.Version
	// FromDB is X's database; ToDB is Y's own (dual-cluster). SharedDB
	// marks a plan where Y uses X's database (ToDB then nil).
	FromDB, ToDB SchemaReader
	SharedDB     bool
	Traffic      WeightReader
	DataPlanes   []DataPlaneSource
	Backups      BackupReader
	Fingerprint  Fingerprinter
	// ToFingerprint reads Y's own database's content (ReadToConfig).
	ToFingerprint Fingerprinter

	// PartTimeout bounds each part's read (default 15s) within ctx.
	PartTimeout time.Duration
	// Now is the clock (default time.Now); times are recorded in UTC.
	Now func() time.Time

	// secrets are scrubbed from every error string (tokens, passwords),
	// in case a driver quotes one.
	secrets []string
}

// Observe reads every part in parallel, each bounded by PartTimeout and
// ctx, and records per-part failures inside Observed (a down node, an
// unreachable database, a missing backup directory are facts). The error
// is non-nil only when ctx ended; Observed then holds what was read, with
// the interrupted parts' errors. Read-only, safe to repeat.
func (o *Observer) Observe(ctx context.Context) (Observed, error) {
	var obs Observed
	obs.At = o.now()
	var wg sync.WaitGroup

	o.readSides(ctx, &wg, &obs)
	if o.ControlPlane != nil {
		obs.ControlPlane = new(NodeFacts)
		wg.Go(func() {
			*obs.ControlPlane = o.readNode(ctx, apiOf("the control plane", "", o.ControlPlane), "control_plane", o.ControlPlane, o.CPVersion)
		})
	}
	if o.FromDB != nil {
		obs.FromDatabase = new(DatabaseFacts)
		wg.Go(func() { *obs.FromDatabase = o.readDatabase(ctx, "X's database", o.FromDB) })
	}
	if o.ToDB != nil {
		obs.ToDatabase = new(DatabaseFacts)
		wg.Go(func() { *obs.ToDatabase = o.readDatabase(ctx, "Y's database", o.ToDB) })
	}
	obs.SharedDatabase = o.SharedDB
	if o.Traffic != nil {
		obs.Traffic = new(TrafficFacts)
		wg.Go(func() { *obs.Traffic = o.readTraffic(ctx) })
	}
	if len(o.DataPlanes) > 0 {
		obs.DataPlanes = make([]DataPlaneFacts, len(o.DataPlanes))
		for i, s := range o.DataPlanes {
			wg.Go(func() { obs.DataPlanes[i] = o.readDataPlanes(ctx, s) })
		}
	}
	if o.Backups != nil {
		obs.Backup = new(BackupFacts)
		wg.Go(func() { *obs.Backup = o.readBackup(ctx) })
	}
	if o.Fingerprint != nil {
		obs.Fingerprint = new(FingerprintFacts)
		wg.Go(func() { *obs.Fingerprint = o.readFingerprintOf(ctx, o.Fingerprint) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return obs, err
	}
	return obs, nil
}

func (o *Observer) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// part bounds one read, what (say "Y's Admin API at URL"); Apply
// reports it while it runs longer than slowAfter (slow.go).
func (o *Observer) part(ctx context.Context, what string) (context.Context, context.CancelFunc) {
	d := o.PartTimeout
	if d <= 0 {
		d = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	done := track(ctx, what, d)
	return ctx, func() { done(); cancel() }
}

// apiOf names a node's API for a slow read: "Y's Admin API at URL".
func apiOf(side, name string, r NodeReader) string {
	s := side
	if name != "" {
		s += " node " + name
	}
	s += "'s Admin API"
	if a, ok := r.(interface{ AdminURL() string }); ok && a.AdminURL() != "" {
		s += " at " + a.AdminURL()
	}
	return s
}

// errString renders err for Observed, with every known secret scrubbed.
func (o *Observer) errString(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, sec := range o.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return oneLinePerError(s)
}

// oneLinePerError drops each line of s that repeats the one before it:
// pgx (sslmode=prefer) words its TLS and its plain attempt the same, so
// a refused connection read as two identical lines.
func oneLinePerError(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	lines := strings.Split(s, "\n")
	out := lines[:1]
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) != strings.TrimSpace(out[len(out)-1]) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// readSides starts, on wg, the reads of X's and Y's nodes (the sides'
// own and the rolling nodes) into obs: what Observe and a pause's health
// probe share.
func (o *Observer) readSides(ctx context.Context, wg *sync.WaitGroup, obs *Observed) {
	node := func(dst *NodeFacts, side, name string, r NodeReader, planned kongrelease.Version) {
		wg.Go(func() { *dst = o.readNode(ctx, apiOf(side, name, r), name, r, planned) })
	}
	if o.From != nil {
		obs.From = new(NodeFacts)
		node(obs.From, "X", "", o.From, o.FromVersion)
	}
	if o.To != nil {
		obs.To = new(NodeFacts)
		node(obs.To, "Y", "", o.To, o.ToVersion)
	}
	if len(o.FromNodes) > 0 {
		obs.FromNodes = make([]NodeFacts, len(o.FromNodes))
		for i, n := range o.FromNodes {
			node(&obs.FromNodes[i], "X", n.Name, n.Reader, o.FromVersion)
		}
	}
	if len(o.ToNodes) > 0 {
		obs.ToNodes = make([]NodeFacts, len(o.ToNodes))
		for i, n := range o.ToNodes {
			node(&obs.ToNodes[i], "Y", n.Name, n.Reader, o.ToVersion)
		}
	}
}

func (o *Observer) readNode(ctx context.Context, what, name string, r NodeReader, planned kongrelease.Version) NodeFacts {
	ctx, cancel := o.part(ctx, what)
	defer cancel()
	f := NodeFacts{Name: name, ReadAt: o.now()}
	v := planned
	info, err := r.Info(ctx)
	if err != nil {
		f.Error = o.errString(err)
		f.Refused = refused(err)
		f.Rejected = errors.Is(err, kong.ErrTokenRejected)
	} else {
		f.Reachable = true
		v = info.Version
		f.Version = info.Version.String()
		f.Edition, f.Role, f.Database, f.NodeID, f.MasterPID = info.Edition, info.Role, info.Database, info.NodeID, info.MasterPID
	}
	rd, err := r.Ready(ctx, v)
	if err != nil {
		f.ReadyError = o.errString(err)
		return f
	}
	f.Ready, f.ReadySource, f.ReadyReason, f.ConfigurationHash = rd.Ready, rd.Source, rd.Reason, rd.ConfigurationHash
	return f
}

func (o *Observer) readDatabase(ctx context.Context, what string, r SchemaReader) DatabaseFacts {
	ctx, cancel := o.part(ctx, what)
	defer cancel()
	f := DatabaseFacts{ReadAt: o.now()}
	var st kong.SchemaState
	if dr, ok := r.(DatabaseReader); ok {
		rd, err := dr.ReadDatabase(ctx)
		if err != nil {
			f.Error = o.errString(err)
			return f
		}
		st = rd.Schema
		if rd.Absent {
			st = kong.SchemaState{NeedsBootstrap: true}
			f.Absent = true
		}
		if len(rd.Activity) > 0 {
			f.Activity = rd.Activity
		}
		f.ContentRead, f.Empty, f.Fingerprint = rd.Content || rd.Absent, rd.Empty || rd.Absent, rd.Fingerprint
		if mk := rd.Mark; mk != nil {
			f.Restore = &RestoreFacts{Owned: mk.Owned, State: mk.State, Manifest: mk.Manifest}
		}
	} else {
		var err error
		if st, err = r.ReadSchema(ctx); err != nil {
			f.Error = o.errString(err)
			return f
		}
	}
	f.NeedsBootstrap = st.NeedsBootstrap
	f.ForFrom = migrationFacts(st, o.FromVersion)
	f.ForTo = migrationFacts(st, o.ToVersion)
	for _, l := range st.Locks {
		f.Locks = append(f.Locks, LockFacts{Key: l.Key, Owner: l.Owner, TTL: l.TTL.UTC(), Expired: l.Expired(f.ReadAt)})
	}
	return f
}

func migrationFacts(st kong.SchemaState, v kongrelease.Version) *MigrationFacts {
	c := st.Classify(v)
	m := &MigrationFacts{
		Version:  v.String(),
		Executed: c.Names(kongrelease.StateExecuted),
		Pending:  c.Names(kongrelease.StatePending),
		New:      c.Names(kongrelease.StateNew),
		Missing:  c.Names(kongrelease.StateMissing),
	}
	m.UpToDate = !st.NeedsBootstrap && len(m.New) == 0
	return m
}

func (o *Observer) readTraffic(ctx context.Context) TrafficFacts {
	ctx, cancel := o.part(ctx, "the load balancer's weights")
	defer cancel()
	f := TrafficFacts{ReadAt: o.now()}
	w, err := o.Traffic.Weights(ctx)
	if err != nil {
		f.Error = o.errString(err)
		f.NotLoaded = errors.As(err, new(*traffic.NotLoadedError))
		return f
	}
	f.From, f.To = w.From, w.To
	return f
}

func (o *Observer) readDataPlanes(ctx context.Context, s DataPlaneSource) DataPlaneFacts {
	ctx, cancel := o.part(ctx, "the data planes' list ("+s.Source+")")
	defer cancel()
	f := DataPlaneFacts{Source: s.Source, ReadAt: o.now(), Planes: []DataPlaneFact{}}
	dps, err := s.Lister.DataPlanes(ctx)
	if err != nil {
		f.Error = o.errString(err)
		return f
	}
	for _, d := range dps {
		f.Planes = append(f.Planes, DataPlaneFact{ID: d.ID, Hostname: d.Hostname, IP: d.IP, Version: d.Version,
			SyncStatus: d.SyncStatus, ConfigHash: d.ConfigHash, LastSeen: d.LastSeen})
	}
	sort.Slice(f.Planes, func(i, j int) bool {
		a, b := f.Planes[i], f.Planes[j]
		if a.Hostname != b.Hostname {
			return a.Hostname < b.Hostname
		}
		return a.ID < b.ID
	})
	return f
}

func (o *Observer) readBackup(ctx context.Context) BackupFacts {
	ctx, cancel := o.part(ctx, "the backup directory")
	defer cancel()
	f := BackupFacts{ReadAt: o.now()}
	m, err := o.Backups.Latest(ctx)
	switch {
	case err != nil:
		f.Error = o.errString(err)
		return f
	case m == nil:
		f.UnusableReason = "no backup"
		return f
	}
	f.Present = true
	f.Name, f.Kind, f.KongVersion, f.Fingerprint, f.SHA256 = m.Name, m.Kind, m.KongVersion, m.Fingerprint.Hash, m.SHA256
	f.CreatedAt = m.CreatedAt.UTC()
	if err := m.Usable(); err != nil {
		f.UnusableReason = o.errString(err)
	} else {
		f.Usable = true
	}
	return f
}

// ReadToConfig reads Y's own database's content; nil when the plan gives Y
// no database of its own.
func (o *Observer) ReadToConfig(ctx context.Context) *FingerprintFacts {
	if o.ToFingerprint == nil {
		return nil
	}
	f := o.readFingerprintOf(ctx, o.ToFingerprint)
	return &f
}

func (o *Observer) readFingerprintOf(ctx context.Context, fpr Fingerprinter) FingerprintFacts {
	ctx, cancel := o.part(ctx, "the configuration's fingerprint")
	defer cancel()
	f := FingerprintFacts{ReadAt: o.now()}
	fp, err := fpr.Fingerprint(ctx)
	if err != nil {
		f.Error = o.errString(err)
		return f
	}
	f.Hash = fp.Hash
	if len(fp.Counts) > 0 {
		f.Counts = fp.Counts
	}
	return f
}

// errNoSide is NewObserver's error for a plan without from or to.
var errNoSide = errors.New("plan has no from or no to block")
