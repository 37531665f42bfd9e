package kongcli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
)

const usage = `Usage: kong COMMAND [OPTIONS]

kongsim's emulation of Kong Gateway's CLI. The available commands are:
  migrations bootstrap|up|finish|list|reset|status
  version

Options:
 --kong-version   (string)          Kong version to emulate (or KONG_VERSION).
 -y,--yes                           Assume "yes" to prompts and run
                                    non-interactively.
 -q,--quiet                         Suppress all output.
 -f,--force                         Run migrations even if database reports
                                    as already executed.
 --db-timeout     (optional number) Timeout, in seconds, for all database
                                    operations.
 --lock-timeout   (default 60)      Timeout, in seconds, for nodes waiting on
                                    the leader node to finish running
                                    migrations.
 -c,--conf, -p,--prefix             Accepted and ignored.
 --v, --vv                          Verbose, debug output.
`

type invocation struct {
	command, subcommand string
	version             kongrelease.Version
	opts                migrations.Options
}

// parseArgs reads Kong's command line (lapp style: "--flag value" or
// "--flag=value") and the KONG_VERSION / KONGSIM_* environment.
func parseArgs(args []string, getenv func(string) string) (invocation, error) {
	var inv invocation
	versionStr := getenv("KONG_VERSION")
	var dbTimeout, lockTimeout string
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "-h", "--help":
			inv.command = "help"
			return inv, nil
		case "--v":
			inv.opts.Verbosity = max(inv.opts.Verbosity, 1)
		case "--vv":
			inv.opts.Verbosity = 2
		case "-y", "--yes":
			inv.opts.Yes = true
		case "-q", "--quiet":
			inv.opts.Quiet = true
		case "-f", "--force":
			inv.opts.Force = true
		case "--db-timeout":
			dbTimeout, err = takeValue()
		case "--lock-timeout":
			lockTimeout, err = takeValue()
		case "--kong-version":
			versionStr, err = takeValue()
		case "-c", "--conf", "-p", "--prefix":
			_, err = takeValue()
		default:
			if strings.HasPrefix(a, "-") {
				return inv, fmt.Errorf("unknown option %s", a)
			}
			positional = append(positional, a)
		}
		if err != nil {
			return inv, err
		}
	}
	if len(positional) == 0 {
		inv.command = "help"
		return inv, nil
	}
	inv.command = positional[0]
	if versionStr == "" {
		return inv, errors.New("kongsim's kong must be told which Kong version to emulate: set KONG_VERSION or pass --kong-version")
	}
	v, err := kongrelease.Parse(versionStr)
	if err != nil {
		return inv, err
	}
	inv.version, inv.opts.Version = v, v
	switch inv.command {
	case "version":
		return inv, nil
	case "migrations":
	default:
		return inv, fmt.Errorf("kongsim's kong does not implement %q (only migrations and version)", inv.command)
	}
	if len(positional) != 2 {
		return inv, errors.New("usage: kong migrations bootstrap|up|finish|list|reset|status [OPTIONS]")
	}
	inv.subcommand = positional[1]

	// --db-timeout: Kong < 3.8 defaults it to 60 s and always overrides
	// pg_timeout; from 3.8 it is optional and pg_timeout (KONG_PG_TIMEOUT,
	// 5000 ms) applies when it is absent (K: kong/cmd/migrations.lua, #12761).
	switch {
	case dbTimeout != "":
		d, err := seconds(dbTimeout, "--db-timeout")
		if err != nil {
			return inv, err
		}
		inv.opts.DBTimeout = d
	case !v.AtLeast(3, 8, 0):
		inv.opts.DBTimeout = 60 * time.Second
	default:
		ms := 5000
		if s := getenv("KONG_PG_TIMEOUT"); s != "" {
			if ms, err = strconv.Atoi(s); err != nil {
				return inv, fmt.Errorf("KONG_PG_TIMEOUT %q is not a number of milliseconds", s)
			}
		}
		inv.opts.DBTimeout = time.Duration(ms) * time.Millisecond
	}
	if inv.opts.DBTimeout < 0 {
		inv.opts.DBTimeout = 0 // "-1" in the field: no bound
	}
	inv.opts.LockTimeout = migrations.DefaultLockTimeout
	if lockTimeout != "" {
		if inv.opts.LockTimeout, err = seconds(lockTimeout, "--lock-timeout"); err != nil {
			return inv, err
		}
	}
	inv.opts.Faults, err = faultsFromEnv(getenv)
	return inv, err
}

func seconds(s, flag string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number of seconds", flag, s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func faultsFromEnv(getenv func(string) string) (migrations.Faults, error) {
	f := migrations.Faults{
		KillAfterCommit: getenv("KONGSIM_KILL_AFTER_COMMIT"),
		ClientTimeout:   getenv("KONGSIM_CLIENT_TIMEOUT"),
	}
	if s := getenv("KONGSIM_SLOW_MIGRATION"); s != "" {
		f.Slow = map[string]time.Duration{}
		for _, item := range strings.Split(s, ",") {
			name, dur, ok := strings.Cut(strings.TrimSpace(item), ":")
			d, err := time.ParseDuration(dur)
			if !ok || name == "" || err != nil {
				return f, fmt.Errorf("KONGSIM_SLOW_MIGRATION: want name:duration (e.g. 006_350_to_360:20s), got %q", item)
			}
			f.Slow[name] = d
		}
	}
	return f, nil
}

// connector builds the PostgreSQL connection from Kong's KONG_PG_*
// variables. The password goes into the config, never into a string that
// could be printed.
func connector(getenv func(string) string) (func(context.Context) (*pgx.Conn, error), string, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	// Kong's TLS settings as libpq's: pg_ssl alone tries TLS (prefer),
	// pg_ssl_required insists, pg_ssl_verify checks the server's
	// certificate against lua_ssl_trusted_certificate; pg_ssl_cert and
	// pg_ssl_cert_key are the client's.
	flag := func(k string) (bool, error) {
		switch v := env(k, "off"); v {
		case "off":
			return false, nil
		case "on":
			return true, nil
		default:
			return false, fmt.Errorf("%s must be on or off, not %q", k, v)
		}
	}
	ssl, err := flag("KONG_PG_SSL")
	if err != nil {
		return nil, "", err
	}
	required, err := flag("KONG_PG_SSL_REQUIRED")
	if err != nil {
		return nil, "", err
	}
	verify, err := flag("KONG_PG_SSL_VERIFY")
	if err != nil {
		return nil, "", err
	}
	sslmode := "disable"
	switch {
	case ssl && verify:
		sslmode = "verify-full"
	case ssl && required:
		sslmode = "require"
	case ssl:
		sslmode = "prefer"
	}
	port, err := strconv.Atoi(env("KONG_PG_PORT", "5432"))
	if err != nil {
		return nil, "", fmt.Errorf("KONG_PG_PORT %q is not a number", getenv("KONG_PG_PORT"))
	}
	// The host goes into the parsed string: pgx builds the TLS settings
	// for the host it parses (none for a socket directory, its default).
	quote := func(v string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'" }
	conf := fmt.Sprintf("host=%s port=%d sslmode=%s", quote(env("KONG_PG_HOST", "127.0.0.1")), port, sslmode)
	if sslmode != "disable" {
		for k, v := range map[string]string{"sslrootcert": "KONG_LUA_SSL_TRUSTED_CERTIFICATE", "sslcert": "KONG_PG_SSL_CERT", "sslkey": "KONG_PG_SSL_CERT_KEY"} {
			if p := getenv(v); p != "" && p != "system" {
				conf += " " + k + "=" + quote(p)
			}
		}
	}
	database := env("KONG_PG_DATABASE", "kong")
	cfg, err := pgx.ParseConfig(conf)
	if err != nil {
		return nil, "", fmt.Errorf("postgres config: %w", err)
	}
	cfg.Database = database
	cfg.User = env("KONG_PG_USER", "kong")
	cfg.Password = getenv("KONG_PG_PASSWORD")
	// migrations.Connector: pgmoon's application_name, and a client timeout
	// never cancels the server's query.
	return migrations.Connector(cfg), database, nil
}
