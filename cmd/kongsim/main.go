// Command kongsim runs one emulated Kong node until interrupted, for
// manual use and the sandbox. It prints one JSON line with the node's URLs
// once it listens.
//
//	kongsim --version 3.9.1 --dsn postgres://kong@127.0.0.1:5432/kong \
//	        --admin-listen 127.0.0.1:8001 --proxy-listen 127.0.0.1:8000 \
//	        --plugins bundled,my-custom-auth
//
// `kongsim seed` fills a bootstrapped database with many entities quickly
// (COPY into Kong's tables) and exits, printing the rows written per table
// as one JSON line:
//
//	kongsim seed --version 3.9.1 --dsn postgres://kong@127.0.0.1:5432/kong \
//	        --consumers 100000 --key-auth 100000
//
// The DSN must not embed a password: use PGPASSWORD or a pgpass file.
// Exit codes: 0 after a clean stop (seed: seeded), 1 when the node cannot
// start (with Kong's message on stderr, as `kong start` prints it) or the
// seed fails, 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "seed" {
		return seed(ctx, args[1:], stdout, stderr)
	}
	return runUntil(ctx, args, stdout, stderr)
}

// seed runs `kongsim seed`.
func seed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kongsim seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var spec kongsim.SeedSpec
	version := fs.String("version", "3.9.1", "Kong version the database is bootstrapped for (its plugin config shape)")
	dsn := fs.String("dsn", "", "PostgreSQL DSN without a password (required)")
	fs.IntVar(&spec.Services, "services", 0, "services to create")
	fs.IntVar(&spec.Routes, "routes", 0, "routes to create, spread over the services")
	fs.IntVar(&spec.Consumers, "consumers", 0, "consumers to create")
	fs.IntVar(&spec.KeyAuth, "key-auth", 0, "key-auth credentials to create, spread over the consumers")
	fs.IntVar(&spec.RateLimiting, "rate-limiting", 0, "rate-limiting plugins to create, one per consumer, then route, then service")
	fs.StringVar(&spec.Prefix, "prefix", "seed-", "start of every name")
	tags := fs.String("tags", "", "comma-separated tags for every entity")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "kongsim seed: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *dsn == "":
		fmt.Fprintln(stderr, "kongsim seed: --dsn is required")
		return 2
	case dsnHasPassword(*dsn):
		fmt.Fprintln(stderr, "kongsim seed: --dsn must not embed a password; use PGPASSWORD or a pgpass file")
		return 2
	}
	if err := spec.Check(); err != nil {
		fmt.Fprintf(stderr, "kongsim seed: %v\n", err)
		return 2
	}
	if *tags != "" {
		spec.Tags = strings.Split(*tags, ",")
	}
	counts, err := kongsim.Seed(ctx, *dsn, *version, spec)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	_ = json.NewEncoder(stdout).Encode(counts)
	return 0
}

func dsnHasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has
}

// runUntil runs the node until ctx ends.
func runUntil(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kongsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg kongsim.Config
	var declPath string
	fs.StringVar(&cfg.Version, "version", "3.9.1", "Kong version to emulate (3 parts open source, 4 parts Enterprise)")
	fs.StringVar(&cfg.Role, "role", "traditional", "traditional, control_plane or data_plane")
	fs.StringVar(&cfg.Database, "database", "", "postgres or off (default: postgres with --dsn, else off)")
	fs.StringVar(&cfg.DSN, "dsn", "", "PostgreSQL DSN without a password")
	fs.StringVar(&cfg.AdminListen, "admin-listen", "127.0.0.1:8001", "Admin API address (\"\" = off)")
	fs.StringVar(&cfg.ProxyListen, "proxy-listen", "127.0.0.1:8000", "proxy address (\"\" = off)")
	fs.StringVar(&cfg.StatusListen, "status-listen", "default", "Status API address (\"default\" = Kong's default for the version, \"\" = off)")
	fs.StringVar(&cfg.ClusterListen, "cluster-listen", "127.0.0.1:8005", "control plane cluster address")
	fs.StringVar(&cfg.ControlPlane, "control-plane", "", "a data plane's control plane URL (http://host:port)")
	fs.StringVar(&declPath, "declarative-config", "", "DB-less: declarative config file to load at start")
	pluginsDefault := "bundled"
	if env := os.Getenv("KONG_PLUGINS"); env != "" {
		pluginsDefault = env // as Kong reads kong.conf's plugins from KONG_PLUGINS
	}
	pluginList := fs.String("plugins", pluginsDefault, "kong.conf plugins: bundled, custom plugin names (any config accepted), or off; comma-separated (default from KONG_PLUGINS)")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kongsim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if dsnHasPassword(cfg.DSN) {
		fmt.Fprintln(stderr, "kongsim: --dsn must not embed a password; use PGPASSWORD or a pgpass file")
		return 2
	}
	cfg.Plugins = strings.Split(*pluginList, ",")
	if declPath != "" {
		b, err := os.ReadFile(declPath)
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return 1
		}
		cfg.DeclarativeConfig = b
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	n, err := kongsim.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	_ = json.NewEncoder(stdout).Encode(map[string]string{
		"admin": n.AdminURL(), "proxy": n.ProxyURL(), "status": n.StatusURL(), "cluster": n.ClusterURL(), "node_id": n.NodeID(),
	})
	<-ctx.Done()
	if err := n.Stop(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "Error: stop: %v\n", err)
		return 1
	}
	return 0
}
