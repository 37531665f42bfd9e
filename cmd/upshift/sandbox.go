package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/kongsim/kongcli"
	"github.com/upshift-dev/upshift/internal/testenv"
)

const sandboxUsage = `Usage: upshift sandbox [--strategy dual_cluster|blue_green|in_place|rolling] [--gitops] [--keep] [--dir DIR]
                     [--log-format text|json] [--log-level LEVEL]

Runs an upgrade end to end on this machine with nothing configured: a real
PostgreSQL (started in a temporary directory), two emulated Kong clusters
(kongsim) with a sample service, routes and key-auth, a real nginx load
balancer in front, and a load of requests through it the whole time. It
writes the strategy's plan into a workspace, applies it with live progress up
to the approval of the decommission (or of finish for blue-green), shows the
converged state, then demonstrates a rollback (rollback { requested = true })
and prints a summary: versions, steps, requests sent and failed, time.

Versions: 3.8.0 → 3.9.1 (dual_cluster, in_place, rolling), 3.9.0 → 3.9.1
(blue_green). The in-place rollback comes after the migrations, so it
restores the backup into X's database (rollback { restore = true }).
Rolling runs two DB-less X nodes and two Y nodes instead of two clusters,
with no database: the backup is X's declarative configuration.

Needs PostgreSQL's server binaries, pg_dump/pg_restore, nginx and curl
(Debian: postgresql, postgresql-client, nginx-light, curl; bash .ci/run
installs them).

  --strategy   which example to run (default dual_cluster)
  --gitops     the GitOps way: the plan is committed to a repository served by
               a real git server (git http-backend), upshift's agent polls it,
               upgrades, and a git revert of the commit rolls the upgrade back;
               the agent's status page is served while it runs. Works with
               every --strategy; in place, the committed plan also says
               rollback { restore = true }, which the revert needs
  --seed N     before the upgrade, seed X's database with N services, N routes,
               N consumers with a key-auth credential each and N consumer
               rate-limiting plugins (COPY into Kong's tables, as kongsim seed
               does), so backups, migrations and syncs run at that size; needs
               a database (not --strategy rolling)
  --keep       keep the workspace (plans, journal, backups) afterwards
  --dir DIR    the workspace (default: a new temporary directory)
  --log-format, --log-level
               the engine's and the agent's logs on stderr (log/slog), as
               for apply: text or json; debug, info, warn (default) or error

Exit codes: 0 converged and rolled back with no failed request (in place:
failed requests during its downtime are expected), 1 otherwise,
2 usage error.
`

var sandboxCommand = &command{
	Name:     "sandbox",
	Synopsis: "Run an upgrade end to end on this machine, then roll it back",
	Usage:    sandboxUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("sandbox")
		strategy := fs.String("strategy", "dual_cluster", "dual_cluster, blue_green, in_place or rolling")
		keep := fs.Bool("keep", false, "keep the workspace")
		dir := fs.String("dir", "", "workspace directory")
		gitops := fs.Bool("gitops", false, "put the plan in a git repository served by a real git server and let the agent apply it; roll back with git revert")
		seedN := fs.Int("seed", 0, "seed X's database with N services, routes, consumers, key-auth credentials and rate-limiting plugins")
		lf := addLogFlags(fs, "warn")
		pos, err := parseFlags(fs, args)
		var log *slog.Logger
		switch {
		case err != nil:
		case len(pos) != 0:
			err = usageErrorf("takes no arguments")
		case sandboxVersions[*strategy] == [2]string{}:
			err = usageErrorf("--strategy must be dual_cluster, blue_green, in_place or rolling")
		case *seedN < 0:
			err = usageErrorf("--seed must not be negative")
		case *seedN > 0 && *strategy == "rolling":
			err = usageErrorf("--seed needs a database; --strategy rolling runs DB-less nodes")
		default:
			log, err = lf.logger(s.Err)
		}
		if err != nil {
			return handleParseError("sandbox", sandboxUsage, err, s)
		}
		if *dir == "" {
			d, err := os.MkdirTemp("", "upshift-sandbox-")
			if err != nil {
				fmt.Fprintf(s.Err, "upshift sandbox: %v\n", err)
				return exitFail
			}
			*dir = d
		}
		if !*keep {
			defer os.RemoveAll(*dir)
		}
		sb := &sandbox{strategy: *strategy, dir: *dir, out: s.Out, gitops: *gitops, log: log, seed: *seedN}
		err = testenv.Standalone(filepath.Join(*dir, "servers"), func(f string, a ...any) {}, func(t testing.TB) error {
			return sb.run(ctx, t)
		})
		if err != nil {
			fmt.Fprintf(s.Err, "upshift sandbox: %v\n", err)
			return exitFail
		}
		if *keep {
			fmt.Fprintf(s.Out, "Workspace kept: %s\n", *dir)
		}
		return exitOK
	},
}

// sandboxVersions are the runnable hops (architecture.md, "The embedded default").
var sandboxVersions = map[string][2]string{
	"dual_cluster": {"3.8.0", "3.9.1"},
	"blue_green":   {"3.9.0", "3.9.1"},
	"in_place":     {"3.8.0", "3.9.1"},
	"rolling":      {"3.8.0", "3.9.1"},
}

type sandbox struct {
	gitops   bool
	strategy string
	seed     int // entities of each kind seeded into X's database
	dir      string
	out      io.Writer
	log      *slog.Logger // nil: discard (tests)
	fleet    *fleet.Fleet
	ng       *testenv.NginxProc
	vars     map[string]any
}

func (sb *sandbox) say(format string, a ...any) { fmt.Fprintf(sb.out, format+"\n", a...) }

func (sb *sandbox) run(ctx context.Context, t testing.TB) error {
	start := time.Now()
	from, to := sandboxVersions[sb.strategy][0], sandboxVersions[sb.strategy][1]
	for _, bin := range []string{"curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (Debian: apt-get install %s)", bin, bin)
		}
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			return errors.New("nginx is not installed: the sandbox puts a real nginx in front of the two clusters (Debian: apt-get install nginx-light)")
		}
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	sb.say("Upshift sandbox: %s, Kong %s → %s (workspace %s)", sb.strategy, from, to, sb.dir)

	if sb.strategy == "rolling" {
		err = sb.setupNodes(ctx, t, from, to)
	} else {
		err = sb.setupClusters(ctx, t, from, to, self)
	}
	if err != nil {
		return err
	}

	// The load: Go's retrying client through nginx for the whole run.
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan testenv.LoadResult, 1)
	go func() {
		loadDone <- testenv.Load{URL: sb.ng.URL() + "/health", Rate: 50, Workers: 4, Duration: 10 * time.Minute,
			Classify: func(r *http.Response) string { return viaVersion(r) }}.Run(lctx, nil)
	}()
	var load testenv.LoadResult
	finishLoad := func() testenv.LoadResult {
		if stopLoad != nil {
			stopLoad()
			load = <-loadDone
			stopLoad = nil
		}
		return load
	}
	defer finishLoad()

	store, err := engine.OpenDir(filepath.Join(sb.dir, "journal"), engine.DirOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	if sb.gitops {
		if err := sb.runGitOps(ctx, t, store); err != nil {
			return err
		}
		res := finishLoad()
		sb.say("\n== Summary")
		sb.say("Kong %s → %s (%s) through git: a commit upgraded, a revert rolled back", from, to, sb.strategy)
		sb.say("Requests through nginx: %d sent, %d failed (by version: %s)", res.Requests, res.Failed, countsText(res.By))
		sb.say("Total time: %s", time.Since(start).Round(100*time.Millisecond))
		if res.Failed > 0 {
			if sb.strategy == "in_place" {
				sb.say("In place has downtime by design: %d requests failed while X was stopped and Y not yet serving (and again during the rollback's restore).", res.Failed)
				return nil
			}
			return fmt.Errorf("%d requests failed through nginx (first: %s)", res.Failed, strings.Join(res.Errors, "; "))
		}
		return nil
	}

	sb.say("\n== Upgrade: upshift apply %s", sb.planPath())
	out1, err := sb.apply(ctx, store, "")
	if err != nil {
		return err
	}
	wantStop := engine.ReasonAwaitingApproval
	if out1.Condition.Reason != wantStop {
		return fmt.Errorf("the upgrade stopped with %s/%s: %s", out1.Condition.Type, out1.Condition.Reason, out1.Condition.Message)
	}
	if err := sb.showState(ctx, store, ""); err != nil {
		return err
	}

	sb.say("\n== Rollback demonstration: the plan now says rollback { requested = true }")
	rb := "  rollback {\n    requested = true\n  }\n"
	if sb.strategy == "in_place" {
		rb = "  rollback {\n    requested = true\n    restore   = true\n  }\n"
	}
	out2, err := sb.apply(ctx, store, rb)
	if err != nil {
		return err
	}
	if out2.Condition.Reason != engine.ReasonRolledBack {
		return fmt.Errorf("the rollback stopped with %s/%s: %s", out2.Condition.Type, out2.Condition.Reason, out2.Condition.Message)
	}
	if err := sb.showState(ctx, store, rb); err != nil {
		return err
	}
	res := finishLoad()
	sb.say("\n== Summary")
	sb.say("Kong %s → %s (%s) and back; steps run: upgrade %d, rollback %d", from, to, sb.strategy, len(out1.Ran), len(out2.Ran))
	sb.say("Requests through nginx: %d sent, %d failed (by version: %s)", res.Requests, res.Failed, countsText(res.By))
	sb.say("Total time: %s", time.Since(start).Round(100*time.Millisecond))
	if res.Failed > 0 {
		if sb.strategy == "in_place" {
			sb.say("In place has downtime by design: %d requests failed while X was stopped and Y not yet serving (and again during the rollback's restore).", res.Failed)
			return nil
		}
		return fmt.Errorf("%d requests failed through nginx (first: %s)", res.Failed, strings.Join(res.Errors, "; "))
	}
	return nil
}

// setupClusters starts PostgreSQL, X (seeded) and declares Y, both
// traditional kongsim clusters behind nginx, and fills the plan's variables.
func (sb *sandbox) setupClusters(ctx context.Context, t testing.TB, from, to, self string) error {
	pg := testenv.Postgres(t)
	dsnX := pg.NewDatabase(t)
	dsnY := dsnX
	if sb.strategy == "dual_cluster" {
		dsnY = pg.NewDatabase(t)
	}
	if code, out, errOut, err := kongsim.Migrate(ctx, dsnX, from, "bootstrap"); err != nil || code != 0 {
		return fmt.Errorf("bootstrap X's database: exit %d %v %s%s", code, err, out, errOut)
	}
	sb.say("- PostgreSQL %s:%d: X's database bootstrapped for Kong %s", pg.Host, pg.Port, from)
	if sb.seed > 0 {
		n := sb.seed
		counts, err := kongsim.Seed(ctx, dsnX, from, kongsim.SeedSpec{Services: n, Routes: n, Consumers: n, KeyAuth: n, RateLimiting: n})
		if err != nil {
			return fmt.Errorf("seed X's database: %w", err)
		}
		sb.say("- X's database seeded: %s", countsText(counts))
	}

	up, err := upstreamServer(t)
	if err != nil {
		return err
	}
	sb.fleet = fleet.New(nil)
	t.Cleanup(func() { _ = sb.fleet.Close() })
	if err := sb.fleet.Add("x", kongsim.Config{Version: from, DSN: dsnX, DBUpdateFrequency: 200 * time.Millisecond}); err != nil {
		return err
	}
	ycfg := kongsim.Config{Version: to, DSN: dsnY, DBUpdateFrequency: 200 * time.Millisecond}
	if sb.strategy == "in_place" {
		// In place, Y replaces X on the same host and ports: only one of
		// them runs at a time, and the load balancer has one server.
		xc, _ := sb.fleet.Config("x")
		ycfg.AdminListen, ycfg.ProxyListen, ycfg.StatusListen = xc.AdminListen, xc.ProxyListen, xc.StatusListen
	}
	if err := sb.fleet.Add("y", ycfg); err != nil {
		return err
	}
	if _, err := sb.fleet.Serve(); err != nil {
		return err
	}
	if err := sb.fleet.Start(ctx, "x"); err != nil {
		return err
	}
	xAdmin, _, _ := sb.fleet.URLs("x")
	if err := fleet.Seed(ctx, xAdmin, up); err != nil {
		return err
	}
	if err := enablePrometheus(ctx, xAdmin); err != nil {
		return err
	}
	sb.say("- cluster X: kongsim %s at %s with a service, routes /health and /orders (key-auth), a consumer and the prometheus plugin", from, xAdmin)

	xc, _ := sb.fleet.Config("x")
	yc, _ := sb.fleet.Config("y")
	servers := []testenv.NginxServer{{Addr: xc.ProxyListen, Weight: 1}, {Addr: yc.ProxyListen, Down: true}}
	if sb.strategy == "in_place" {
		servers = servers[:1] // X's address, which Y takes over
	}
	sb.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: servers})
	sb.say("- nginx at %s in front of X and Y", sb.ng.URL())

	sb.vars = map[string]any{
		"Strategy": sb.strategy, "From": from, "To": to,
		"XAdmin": xc.AdminListen, "XStatus": xc.StatusListen, "XProxy": xc.ProxyListen,
		"YAdmin": yc.AdminListen, "YStatus": yc.StatusListen, "YProxy": yc.ProxyListen,
		"DSNX": dsnX, "DSNY": dsnY, "VerifyDSN": pg.AdminDSN(),
		"XStart": hclList(sb.fleet.Hook("x", "start")), "XStop": hclList(sb.fleet.Hook("x", "stop")),
		"YStart": hclList(sb.fleet.Hook("y", "start")), "YStop": hclList(sb.fleet.Hook("y", "stop")),
		"Kong":    hclList([]string{self, kongsimKongCommand, "--kong-version", to}),
		"Backups": filepath.Join(sb.dir, "backups"), "Upstream": sb.ng.UpstreamFile(),
		"Test": hclList(sb.ng.TestCommand()), "Reload": hclList(sb.ng.ReloadCommand()), "PidFile": sb.ng.PidFile(), "Key": fleet.SampleKey,
	}

	return nil
}

// enablePrometheus enables the prometheus plugin globally on the cluster
// whose Admin API is at adminURL, counting statuses (status_code_metrics),
// as the sandbox plans' kong_metrics analysis needs.
func enablePrometheus(ctx context.Context, adminURL string) error {
	form := url.Values{"name": {"prometheus"}, "config.status_code_metrics": {"true"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, adminURL+"/plugins", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("enable the prometheus plugin on X: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("enable the prometheus plugin on X: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// setupNodes is the rolling sandbox: two DB-less X nodes (from) loaded with
// a declarative configuration (the sample service, routes, key-auth and
// consumer), two DB-less Y nodes (to) declared, all behind nginx. No
// database: the backup is X's configuration, Y nodes get it at start.
func (sb *sandbox) setupNodes(ctx context.Context, t testing.TB, from, to string) error {
	up, err := upstreamServer(t)
	if err != nil {
		return err
	}
	// The prometheus plugin counts statuses for the kong_metrics analysis.
	conf := append(fleet.SampleDeclarative(up), "plugins:\n- name: prometheus\n  config:\n    status_code_metrics: true\n"...)
	sb.fleet = fleet.New(nil)
	t.Cleanup(func() { _ = sb.fleet.Close() })
	type node struct {
		Name, Admin, Status, Proxy, Start, Stop string
	}
	var xs, ys []node
	var servers []testenv.NginxServer
	for _, n := range []string{"x1", "x2", "y1", "y2"} {
		cfg := kongsim.Config{Version: to, Database: "off"}
		if n[0] == 'x' {
			cfg = kongsim.Config{Version: from, Database: "off", DeclarativeConfig: conf}
		}
		if err := sb.fleet.Add(n, cfg); err != nil {
			return err
		}
	}
	if _, err := sb.fleet.Serve(); err != nil {
		return err
	}
	for _, n := range []string{"x1", "x2", "y1", "y2"} {
		c, _ := sb.fleet.Config(n)
		nd := node{Name: n, Admin: c.AdminListen, Status: c.StatusListen, Proxy: c.ProxyListen,
			Start: hclList(sb.fleet.Hook(n, "start")), Stop: hclList(sb.fleet.Hook(n, "stop"))}
		if n[0] == 'x' {
			if err := sb.fleet.Start(ctx, n); err != nil {
				return err
			}
			xs = append(xs, nd)
			servers = append(servers, testenv.NginxServer{Addr: c.ProxyListen, Weight: 1})
		} else {
			ys = append(ys, nd)
			servers = append(servers, testenv.NginxServer{Addr: c.ProxyListen, Down: true})
		}
	}
	sb.say("- X: DB-less kongsim %s nodes x1 and x2 with a declarative configuration (a service, routes /health and /orders with key-auth, a consumer, the prometheus plugin)", from)
	sb.say("- Y: DB-less kongsim %s nodes y1 and y2, declared, not started", to)
	sb.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: servers})
	sb.say("- nginx at %s in front of the four nodes (Y's marked down)", sb.ng.URL())
	sb.vars = map[string]any{
		"Strategy": sb.strategy, "From": from, "To": to, "XNodes": xs, "YNodes": ys,
		"Backups": filepath.Join(sb.dir, "backups"), "Upstream": sb.ng.UpstreamFile(),
		"Test": hclList(sb.ng.TestCommand()), "Reload": hclList(sb.ng.ReloadCommand()), "PidFile": sb.ng.PidFile(), "Key": fleet.SampleKey,
	}
	return nil
}

func (sb *sandbox) planPath() string {
	return filepath.Join(sb.dir, "plans", sb.strategy+".upshift.hcl")
}

// writePlan renders the strategy's plan with extra inside the block.
func (sb *sandbox) writePlan(extra string) error {
	if extra != "" {
		extra = "\n" + strings.TrimRight(extra, "\n") + "\n" // a blank line before it, none before the closing brace
	}
	vars := map[string]any{"Extra": extra}
	for k, v := range sb.vars {
		vars[k] = v
	}
	tmpl := sandboxPlan
	if sb.strategy == "rolling" {
		tmpl = sandboxRollingPlan
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(sb.planPath()), 0o755); err != nil {
		return err
	}
	return os.WriteFile(sb.planPath(), b.Bytes(), 0o644)
}

func (sb *sandbox) apply(ctx context.Context, store engine.Store, extra string) (engine.Outcome, error) {
	if err := sb.writePlan(extra); err != nil {
		return engine.Outcome{}, err
	}
	p, err := loadOnePlan(sb.planPath(), "")
	if err != nil {
		return engine.Outcome{}, err
	}
	pp := newProgressPrinter(sb.out)
	e, err := engine.New(engine.Config{Plan: p, Store: store, Holder: "sandbox", Progress: pp.Progress, Logger: sb.log,
		WaitTimeout: 60 * time.Second, RetryBase: 200 * time.Millisecond, Drain: time.Second})
	if err != nil {
		return engine.Outcome{}, err
	}
	out, err := e.Apply(ctx)
	pp.finish()
	if err != nil {
		return out, err
	}
	fmt.Fprintln(sb.out, wrap(fmt.Sprintf("%s/%s: ", out.Condition.Type, out.Condition.Reason), out.Condition.Message, 4, outputWidth(sb.out)))
	return out, nil
}

func (sb *sandbox) showState(ctx context.Context, store engine.Store, extra string) error {
	p, err := loadOnePlan(sb.planPath(), "")
	if err != nil {
		return err
	}
	e, err := engine.New(engine.Config{Plan: p, Store: store})
	if err != nil {
		return err
	}
	pv, err := e.Preview(ctx)
	if err != nil {
		return err
	}
	sb.say("")
	writeObserved(sb.out, &pv.Observed)
	return nil
}

// countsText is "3.8.0: 283, 3.9.1: 170": counts by name, names sorted.
func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// selfPath is how to run this binary again: argv[0] (a name on PATH, or a
// path; under testscript that is the name that dispatches to main), else
// the executable's path.
func selfPath() (string, error) {
	if a := os.Args[0]; a != "" {
		if p, err := exec.LookPath(a); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs, nil
			}
		}
	}
	return os.Executable()
}

// upstreamServer is the service behind Kong: it answers 200 "ok".
func upstreamServer(t testing.TB) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String(), nil
}

// viaVersion names the Kong version that served a response (its Via header).
func viaVersion(r *http.Response) string {
	v := r.Header.Get("Via")
	if i := strings.LastIndex(v, "kong/"); i >= 0 {
		return v[i+5:]
	}
	return "status " + strconv.Itoa(r.StatusCode)
}

func hclList(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// kongsimKongCommand is the hidden subcommand that makes this binary
// kongsim's `kong` CLI, the sandbox plans' to.kong: so the sandbox needs
// no Go toolchain and no second binary.
const kongsimKongCommand = "__kongsim-kong"

func runKongsimKong(ctx context.Context, args []string, s *streams) int {
	return kongcli.Run(ctx, args, os.Getenv, s.In, false, s.Out, s.Err, func() {
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		select {}
	})
}

// sandboxBlocks are the blocks the sandbox plans share: the two key-auth
// checks, the rollout, and a rolling plan's node.
var sandboxBlocks = template.Must(template.New("blocks").Parse(`{{define "checks"}}  check "key_auth_rejects_anonymous" {
    request {
      path = "/orders"
    }
    expect {
      status        = 401
      body_contains = "No API key found in request"
    }
  }

  check "key_auth_accepts_a_key" {
    request {
      path    = "/orders"
      headers = { apikey = "{{.Key}}" }
    }
    expect {
      status = 200
    }
  }
{{end}}{{define "node"}}    node "{{.Name}}" {
      admin_url  = "http://{{.Admin}}"
      status_url = "http://{{.Status}}"
      proxy_url  = "http://{{.Proxy}}"
      start      = {{.Start}}
      stop       = {{.Stop}}
    }{{end}}{{define "analysis"}}  # Y judged against X at every pause from both clusters' own /metrics:
  # the sandbox enables the prometheus plugin on X with status_code_metrics,
  # and Y gets X's configuration.
  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
    interval          = "1s"
  }

{{end}}{{define "rollout"}}  rollout {
    step {
      weight = 10
      pause  = "2s"
    }
    step {
      weight = 50
      pause  = "2s"
    }
    step {
      weight = 100
      pause  = "2s"
    }
  }
{{end}}`))

var sandboxPlan = template.Must(template.Must(sandboxBlocks.Clone()).New("plan").Parse(`# Written by upshift sandbox: Kong {{.From}} → {{.To}}, {{.Strategy}}.
upgrade "sandbox-{{.Strategy}}" {
  cluster  = "sandbox"
  strategy = "{{.Strategy}}"
  mode     = "traditional"
{{- if eq .Strategy "in_place"}}
  # A throwaway sandbox runs unattended through the downtime; a real plan
  # adds "stop_current" to approve in a commit after the run stops there.
  approve_in_advance = ["stop_current"]
{{- end}}

  from {
    version    = "{{.From}}"
    admin_url  = "http://{{.XAdmin}}"
    status_url = "http://{{.XStatus}}"
    proxy_url  = "http://{{.XProxy}}"
    database { dsn = "{{.DSNX}}" }
    start = {{.XStart}}
    stop  = {{.XStop}}
  }

  to {
    version    = "{{.To}}"
    admin_url  = "http://{{.YAdmin}}"
    status_url = "http://{{.YStatus}}"
    proxy_url  = "http://{{.YProxy}}"
{{- if eq .Strategy "dual_cluster"}}
    database { dsn = "{{.DSNY}}" }
{{- end}}

    kong  = {{.Kong}}
    start = {{.YStart}}
    stop  = {{.YStop}}
  }

  backup {
    dir        = "{{.Backups}}"
    verify     = true
    verify_dsn = "{{.VerifyDSN}}"
  }
{{if ne .Strategy "in_place"}}
  traffic "nginx" {
    upstream_file = "{{.Upstream}}"
    upstream      = "kong"
    test          = {{.Test}}
    reload        = {{.Reload}}
    pid_file      = "{{.PidFile}}"
  }
{{end}}
{{template "checks" .}}{{if ne .Strategy "in_place"}}
{{template "analysis" .}}{{template "rollout" .}}{{end}}{{.Extra}}}
`))

var sandboxRollingPlan = template.Must(template.Must(sandboxBlocks.Clone()).New("rolling").Parse(`# Written by upshift sandbox: Kong {{.From}} → {{.To}}, rolling, DB-less nodes.
upgrade "sandbox-rolling" {
  cluster  = "sandbox"
  strategy = "rolling"
  mode     = "dbless"

  from {
    version = "{{.From}}"
{{- range .XNodes}}
{{template "node" .}}
{{- end}}
  }

  to {
    version = "{{.To}}"
{{- range .YNodes}}
{{template "node" .}}
{{- end}}
  }

  backup {
    dir = "{{.Backups}}"
  }

  traffic "nginx" {
    upstream_file = "{{.Upstream}}"
    upstream      = "kong"
    test          = {{.Test}}
    reload        = {{.Reload}}
    pid_file      = "{{.PidFile}}"
  }

{{template "checks" .}}
{{template "analysis" .}}{{template "rollout" .}}{{.Extra}}}
`))
