package engine

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/traffic"
	"github.com/upshift-dev/upshift/plan"
)

// NewObserver builds the drivers the plan's observation needs from its
// from/to sides, traffic, control_plane and backup blocks, resolving env()
// values with lookupEnv (os.LookupEnv in production). It contacts nothing.
//
// What it builds: a *kong.Client per side (admin_url, admin_token,
// status_url) and per rolling node; X's database (from.database.dsn) and,
// when the plan gives one, Y's own (to.database.dsn), else Y shares X's;
// the load balancer driver for the traffic block; the control planes of a
// hybrid plan (hybrid_cp: X and Y; hybrid_dp: control_plane); the backup
// driver for the backup block; the fingerprint of X (its database, or its
// Admin API when DB-less).
//
// Errors (an unparsable version, an unset environment variable, a bad
// URL) name the attribute or variable, never a secret's value.
func NewObserver(p *plan.Plan, lookupEnv func(string) (string, bool)) (*Observer, error) {
	if p == nil || p.From == nil || p.To == nil {
		return nil, errNoSide
	}
	b := &observerBuilder{p: p, env: lookupEnv, o: &Observer{}}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("plan %q: observe: %w", p.Name, err)
	}
	return b.o, nil
}

type observerBuilder struct {
	p   *plan.Plan
	env func(string) (string, bool)
	o   *Observer
}

// resolve returns v's value ("" when not written); a token or a DSN
// password is remembered so that it is scrubbed from observed errors.
func (b *observerBuilder) resolve(v plan.Value, secret bool) (string, error) {
	if !v.Given() {
		return "", nil
	}
	s, err := v.Resolve(b.env)
	if err != nil {
		return "", err
	}
	if secret && s != "" {
		b.o.secrets = append(b.o.secrets, s)
	}
	return s, nil
}

// dsn resolves a database's DSN and remembers its password as a secret.
func (b *observerBuilder) dsn(d *plan.Database) (string, error) {
	if d == nil {
		return "", nil
	}
	s, err := b.resolve(d.DSN, false)
	if err != nil || s == "" {
		return "", err
	}
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		return "", fmt.Errorf("%s: database dsn does not parse", d.DSN.Range)
	}
	if cfg.Password != "" {
		b.o.secrets = append(b.o.secrets, cfg.Password, url.QueryEscape(cfg.Password))
	}
	return s, nil
}

// client builds a Kong client; tc is the node's tls block (nodeTLS), nil
// for plain http or the system roots.
func (b *observerBuilder) client(adminURL, token, statusURL plan.Value, tc *plan.TLS) (*kong.Client, error) {
	u, err := b.resolve(adminURL, false)
	if err != nil || u == "" {
		return nil, err
	}
	tok, err := b.resolve(token, true)
	if err != nil {
		return nil, err
	}
	st, err := b.resolve(statusURL, false)
	if err != nil {
		return nil, err
	}
	opts := kong.Options{AdminURL: u, Token: tok, StatusURL: st}
	if opts.TLS, err = b.tls(tc); err != nil {
		return nil, err
	}
	return kong.New(opts)
}

// tls resolves a tls block (nil: none).
func (b *observerBuilder) tls(tc *plan.TLS) (kong.TLS, error) {
	var t kong.TLS
	if tc == nil {
		return t, nil
	}
	for _, f := range []struct {
		v   plan.Value
		dst *string
	}{{tc.CAFile, &t.CA}, {tc.CertFile, &t.Cert}, {tc.KeyFile, &t.Key}, {tc.ServerName, &t.ServerName}} {
		var err error
		// The key may be inline PEM from the environment: a secret.
		if *f.dst, err = b.resolve(f.v, f.dst == &t.Key); err != nil {
			return t, fmt.Errorf("tls: %w", err)
		}
	}
	return t, nil
}

// nodeTLS is a rolling node's tls block: its own, else its side's.
func nodeTLS(n *plan.Node, s *plan.Side) *plan.TLS {
	if n.TLS != nil {
		return n.TLS
	}
	return s.TLS
}

func (b *observerBuilder) build() error {
	p, o := b.p, b.o
	var err error
	if o.FromVersion, err = kongrelease.Parse(p.From.Version.Value); err != nil {
		return fmt.Errorf("from.version: %w", err)
	}
	if o.ToVersion, err = kongrelease.Parse(p.To.Version.Value); err != nil {
		return fmt.Errorf("to.version: %w", err)
	}

	fromClient, err := b.client(p.From.AdminURL, p.From.AdminToken, p.From.StatusURL, p.From.TLS)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	toClient, err := b.client(p.To.AdminURL, p.To.AdminToken, p.To.StatusURL, p.To.TLS)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	if fromClient != nil {
		o.From = fromClient
	}
	if toClient != nil {
		o.To = toClient
	}
	if o.FromNodes, err = b.nodes(p.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if o.ToNodes, err = b.nodes(p.To); err != nil {
		return fmt.Errorf("to: %w", err)
	}

	fromDSN, err := b.dsn(p.From.Database)
	if err != nil {
		return fmt.Errorf("from.database: %w", err)
	}
	toDSN, err := b.dsn(p.To.Database)
	if err != nil {
		return fmt.Errorf("to.database: %w", err)
	}
	if fromDSN != "" {
		o.FromDB = SchemaDB{DSN: fromDSN}
	}
	switch {
	case toDSN != "" && toDSN != fromDSN:
		o.ToDB = SchemaDB{DSN: toDSN, Content: true}
		o.ToFingerprint = &backup.Driver{Options: backup.Options{DSN: toDSN, Plan: p.Name, KongVersion: p.To.Version.Value}}
	case fromDSN != "":
		o.SharedDB = true
	}

	if p.Traffic != nil {
		if o.Traffic, err = b.router(); err != nil {
			return fmt.Errorf("traffic: %w", err)
		}
	}

	switch p.Mode.Value {
	case "hybrid_cp":
		if fromClient != nil {
			o.DataPlanes = append(o.DataPlanes, DataPlaneSource{Source: "from", Lister: fromClient})
		}
		if toClient != nil {
			o.DataPlanes = append(o.DataPlanes, DataPlaneSource{Source: "to", Lister: toClient})
		}
	case "hybrid_dp":
		if cp := p.ControlPlane; cp != nil {
			c, err := b.client(cp.AdminURL, cp.AdminToken, plan.Value{}, cp.TLS)
			if err != nil {
				return fmt.Errorf("control_plane: %w", err)
			}
			if c != nil {
				o.DataPlanes = append(o.DataPlanes, DataPlaneSource{Source: "control_plane", Lister: c})
				o.ControlPlane = c
				if o.CPVersion, err = kongrelease.Parse(cp.Version.Value); err != nil {
					return fmt.Errorf("control_plane.version: %w", err)
				}
			}
		}
	}

	// X's fingerprint: from its database, or from its Admin API (DB-less;
	// a rolling side without its own admin_url: its first node's).
	fp := &backup.Driver{Options: backup.Options{DSN: fromDSN, Plan: p.Name, KongVersion: p.From.Version.Value}}
	if fromDSN == "" {
		c, err := b.firstClient(p.From)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if c != nil {
			fp.Options.Admin = c
		}
	}
	if fp.Options.DSN != "" || fp.Options.Admin != nil {
		o.Fingerprint = fp
	}
	if p.Backup != nil && p.Backup.Dir.Value != "" {
		bc, err := b.firstClient(p.From)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if o.Backups, err = b.backupDriver(fromDSN, bc); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}

// BackupDriver builds the plan's backup driver (`upshift backup`, and the
// engine's backup step): X's database for pg_dump with a decK dump through
// X's Admin API as the second backup, or the Admin API alone when X is
// DB-less; backup.dir, keep and verify_dsn. env() values are resolved with
// lookupEnv; errors name attributes and variables, never a secret.
func BackupDriver(p *plan.Plan, lookupEnv func(string) (string, bool)) (*backup.Driver, error) {
	if p == nil || p.From == nil {
		return nil, errNoSide
	}
	if p.Backup == nil || p.Backup.Dir.Value == "" {
		return nil, errors.New("the plan has no backup block with a dir")
	}
	b := &observerBuilder{p: p, env: lookupEnv, o: &Observer{}}
	// A backup needs X's Admin API (decK dump, GET /config), not its
	// Status API: status_url is not resolved.
	fromClient, err := b.firstClient(p.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	fromDSN, err := b.dsn(p.From.Database)
	if err != nil {
		return nil, fmt.Errorf("from.database: %w", err)
	}
	return b.backupDriver(fromDSN, fromClient)
}

// backupDriver is BackupDriver's work once X's DSN and client are built.
func (b *observerBuilder) backupDriver(fromDSN string, fromClient *kong.Client) (*backup.Driver, error) {
	p := b.p
	if fromDSN == "" && fromClient == nil {
		return nil, errors.New("from has neither a database nor an admin_url to back up")
	}
	verify, err := b.resolve(p.Backup.VerifyDSN, false)
	if err != nil {
		return nil, fmt.Errorf("verify_dsn: %w", err)
	}
	return &backup.Driver{Keep: p.Backup.Keep.Value, VerifyDSN: verify, Options: backup.Options{
		Dir: p.Backup.Dir.Value, Plan: p.Name, KongVersion: p.From.Version.Value, DSN: fromDSN, Admin: fromClient}}, nil
}

// firstClient is the side's Admin API client for backups and the
// fingerprint: its admin_url, else its first rolling node's (status_url is
// not resolved: a backup needs the Admin API). nil when it has neither.
func (b *observerBuilder) firstClient(s *plan.Side) (*kong.Client, error) {
	if s.AdminURL.Given() || len(s.Nodes) == 0 {
		return b.client(s.AdminURL, s.AdminToken, plan.Value{}, s.TLS)
	}
	n := s.Nodes[0]
	c, err := b.client(n.AdminURL, n.AdminToken, plan.Value{}, nodeTLS(n, s))
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", n.Name, err)
	}
	return c, nil
}

func (b *observerBuilder) nodes(s *plan.Side) ([]NamedNode, error) {
	var out []NamedNode
	for _, n := range s.Nodes {
		c, err := b.client(n.AdminURL, n.AdminToken, n.StatusURL, nodeTLS(n, s))
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", n.Name, err)
		}
		if c != nil {
			out = append(out, NamedNode{Name: n.Name, Reader: c})
		}
	}
	return out, nil
}

// proxies lists a side's proxy addresses as the load balancer sees them:
// the side's proxy_url, then each rolling node's.
func (b *observerBuilder) proxies(s *plan.Side) ([]string, error) {
	var out []string
	v, err := b.resolve(s.ProxyURL, false)
	if err != nil {
		return nil, err
	}
	if v != "" {
		out = append(out, v)
	}
	for _, n := range s.Nodes {
		v, err := b.resolve(n.ProxyURL, false)
		if err != nil {
			return nil, err
		}
		if v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

// router builds the traffic block's driver (only its Weights is used here).
func (b *observerBuilder) router() (Router, error) {
	t := b.p.Traffic
	strs := func(ss []plan.String) []string {
		out := make([]string, 0, len(ss))
		for _, s := range ss {
			out = append(out, s.Value)
		}
		return out
	}
	switch t.Kind {
	case "nginx":
		from, err := b.proxies(b.p.From)
		if err != nil {
			return nil, err
		}
		to, err := b.proxies(b.p.To)
		if err != nil {
			return nil, err
		}
		return traffic.NewNginx(traffic.NginxConfig{File: t.UpstreamFile.Value, Upstream: t.Upstream.Value,
			From: from, To: to, Test: t.Test.Args, Reload: t.Reload.Args, PidFile: t.PidFile.Value})
	case "haproxy":
		return traffic.NewHAProxy(traffic.HAProxyConfig{Socket: t.Socket.Value, Backend: t.Backend.Value,
			From: strs(t.FromServers), To: strs(t.ToServers)})
	case "command":
		return traffic.NewCommand(traffic.CommandConfig{Set: t.Set.Args, Get: t.Get.Args})
	}
	return nil, fmt.Errorf("unknown traffic driver %q", t.Kind)
}
