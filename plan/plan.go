package plan

import "github.com/hashicorp/hcl/v2"

// Set is every plan found under the paths given to LoadPaths, in file order
// (files sorted by path, plans in source order within a file).
type Set struct {
	Plans []*Plan
	// Files lists every plan file read, sorted, including files that failed
	// to parse (they contribute diagnostics but no plans).
	Files []string
	// Settings is the settings file governing the paths (SettingsFile,
	// found by walking up from them), nil when there is none.
	Settings *Settings
}

// Lookup returns the first plan named name, or nil.
func (s *Set) Lookup(name string) *Plan {
	if s == nil {
		return nil
	}
	for _, p := range s.Plans {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Strategies, modes, consent items and the other closed vocabularies of the
// language (architecture.md, "Names that every piece shares").
var (
	Strategies    = []string{"dual_cluster", "blue_green", "in_place", "rolling"}
	Modes         = []string{"traditional", "hybrid_cp", "hybrid_dp", "dbless"}
	ApproveItems  = []string{"stop_current", "finish", "decommission"}
	TrafficKinds  = []string{"nginx", "haproxy", "command"}
	NotifyKinds   = []string{"slack", "webhook"}
	CheckTargets  = []string{"from", "to"}
	CompareKinds  = []string{"kong_metrics"}
	OnNoData      = []string{"fail", "stall"}
	DatabaseKinds = []string{"postgres", "cassandra"}
)

// DefaultMode is the mode of a plan that does not say.
const DefaultMode = "traditional"

// Plan is one `upgrade "NAME" { ... }` block. Every field that a lint rule
// points at keeps its range; a zero Range means "not written in the file".
type Plan struct {
	Name      string
	DeclRange hcl.Range // the block header: upgrade "NAME"
	NameRange hcl.Range // the label
	// File is the plan file's path as given to (or found by) LoadPaths.
	File string
	// Incomplete is true when decoding this plan reported errors: some of
	// its parts may be missing from the struct although the file has them
	// (a block with a wrong label, an attribute of the wrong type). Lint
	// then does not report anything as missing.
	Incomplete bool

	Cluster   String
	DependsOn []String
	Strategy  String
	// Mode is DefaultMode (with a zero Range) when the plan does not set it.
	Mode        String
	Acknowledge []String

	From, To     *Side
	ControlPlane *ControlPlane // hybrid_dp: the control plane Y's data planes join

	Freeze   *Freeze
	Backup   *Backup
	Traffic  *Traffic
	Checks   []*Check
	Analyses []*Analysis
	Rollout  *Rollout
	Notify   []*Notify

	Rehearse    Bool
	MaxDowntime String // a duration; see String.Duration
	// Approve lists consent items; one counts only when it was added
	// after the run stopped at its gate (the engine journals the list it
	// saw there).
	Approve []String
	// ApproveInAdvance pre-approves gates for unattended runs: no one is
	// asked (lint warns, UP039).
	ApproveInAdvance []String
	Rollback         *Rollback // never nil after decoding: defaults filled in
	// Run numbers the plan's runs (default 1): changing it after a run
	// completed or rolled back starts a new one. Out of the JSON (and so
	// of the engine's digest, which adds it only when > 1, keeping the
	// digest of every plan that does not set it).
	Run Int `json:"-"`
}

// RunNumber is the plan's run attribute, 1 when not set.
func (p *Plan) RunNumber() int {
	if p == nil || !p.Run.Set || p.Run.Value < 1 {
		return 1
	}
	return p.Run.Value
}

// Side is cluster X (`from`) or cluster Y (`to`).
type Side struct {
	DeclRange hcl.Range
	Version   String // literal; never env()

	AdminURL   Value
	AdminToken Value // sent as Kong-Admin-Token
	StatusURL  Value // Status API (Kong >= 3.3 with status_listen)
	ProxyURL   Value // the side's address as the load balancer sees it
	Database   *Database
	// Kong is Y's kong CLI argv; {pg_host} {pg_port} {pg_database}
	// {pg_user} are substituted at run time (Placeholders).
	Kong        Argv
	Start, Stop Argv
	Nodes       []*Node // rolling
	TLS         *TLS    // https Admin/Status APIs; nodes without their own use it
}

// TLS says how to verify (and, for mutual TLS, authenticate to) an https
// Admin or Status API. Each value is a path, literal or env(); a value
// that is itself PEM ("-----BEGIN ...", from env()) is used as is. The CA
// is added to the system roots, never replaces them; there is no way to
// skip verification.
type TLS struct {
	DeclRange  hcl.Range
	CAFile     Value
	CertFile   Value // client certificate (mTLS); needs KeyFile
	KeyFile    Value
	ServerName Value // expected name in the server's certificate (SNI too)
}

// Node is one node of a rolling side.
type Node struct {
	Name        string
	DeclRange   hcl.Range
	AdminURL    Value
	AdminToken  Value
	StatusURL   Value
	ProxyURL    Value
	Start, Stop Argv
	TLS         *TLS // nil: the side's
}

// Database is a side's PostgreSQL database (Kong's own).
type Database struct {
	DeclRange hcl.Range
	// Kind is "postgres" (default, zero Range) or "cassandra" (removed from
	// Kong in 3.4; lint refuses it as a target).
	Kind String
	DSN  Value
}

// ControlPlane is, for hybrid_dp plans, the control plane the data planes
// talk to. Version lets lint apply Kong's data-plane acceptance rule.
type ControlPlane struct {
	DeclRange  hcl.Range
	Version    String
	AdminURL   Value
	AdminToken Value
	TLS        *TLS
}

// Freeze holds the optional hooks that close and reopen admin writes.
type Freeze struct {
	DeclRange  hcl.Range
	Start, End Argv
}

// Backup says where and how X is backed up before anything changes.
type Backup struct {
	DeclRange hcl.Range
	Dir       String
	Keep      Int // retention per plan; 0 = keep all
	Verify    Bool
	VerifyDSN Value // a server where Upshift may CREATE/DROP DATABASE
}

// Traffic is the load balancer driver: Kind is the block label.
type Traffic struct {
	Kind      string // nginx | haproxy | command
	KindRange hcl.Range
	DeclRange hcl.Range

	// nginx
	UpstreamFile String
	Upstream     String
	Test, Reload Argv
	PidFile      String // nginx's pid file: its workers tell whether the upstream file is loaded
	// haproxy (runtime API)
	Socket      String
	Backend     String
	FromServers []String
	ToServers   []String
	// command: Set gets {from_weight} {to_weight}; Get prints "FROM TO".
	Set, Get Argv
}

// Check is a staging test against Y (or X with target = "from").
type Check struct {
	Name      string
	DeclRange hcl.Range
	Target    String // "to" (default) or "from"
	Request   *Request
	Expect    *Expect
	// DataPlanesSynced: every data plane of Y's control plane reports
	// sync_status = normal (hybrid).
	DataPlanesSynced Bool
}

// Request is the HTTP request a check sends through the side's proxy.
type Request struct {
	DeclRange hcl.Range
	Method    String // default GET
	Path      String
	Headers   map[string]Value
	Body      String
}

// Expect is what a check's response must show.
type Expect struct {
	DeclRange    hcl.Range
	Status       Int
	Headers      map[string]String
	BodyContains String
	// JSONPath maps a dotted path into the JSON body ("data.0.name") to the
	// expected value, compared as text.
	JSONPath map[string]String
}

// Analysis is a gate evaluated during every rollout pause: either a
// Prometheus query bounded by Max/Min, or Compare = "kong_metrics" (Y's
// /metrics against X's with margins).
type Analysis struct {
	Name       string
	DeclRange  hcl.Range
	Prometheus Value
	Query      String
	Max, Min   Float
	Interval   String // duration
	Failures   Int

	Compare          String
	ErrorRateMargin  Float
	P99LatencyMargin String // duration

	// Margin: a Prometheus query with {version} or {side} runs once per
	// side, and Y's value may exceed X's by at most Margin.
	Margin Float
	// The low-traffic policy (docs/engine.md): MinRequests per side for
	// compare, MaxWindow (duration) the window may grow to while there
	// is no data, OnNoData "fail" (default) or "stall" after that.
	MinRequests Int
	MaxWindow   String
	OnNoData    String
}

// Rollout is the sequence of traffic weights on Y.
type Rollout struct {
	DeclRange hcl.Range
	Steps     []*Step
}

// Step is one rollout step: Weight percent of traffic on Y, then Pause.
type Step struct {
	DeclRange hcl.Range
	Weight    Int
	Pause     String // duration
}

// Notify sends progress to a chat or a webhook.
type Notify struct {
	Kind       string // slack | webhook
	KindRange  hcl.Range
	DeclRange  hcl.Range
	WebhookURL Value // slack
	URL        Value // webhook
	Secret     Value // webhook: HMAC-SHA256 key of the body's signature
}

// Rollback holds the rollback switches; absent attributes take their
// defaults (OnGateFailure true, the others false).
type Rollback struct {
	DeclRange     hcl.Range
	Requested     Bool
	OnGateFailure Bool
	Restore       Bool
}
