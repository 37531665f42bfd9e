package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDatabaseURL names the environment variable that points the harness at
// an existing PostgreSQL server instead of starting a cluster. Its value is
// a URL (postgres://user[:password]@host:port/db?params) of a role that may
// create and drop databases.
const EnvDatabaseURL = "UPSHIFT_TEST_DATABASE_URL"

// PG is a PostgreSQL server for tests: the throwaway cluster of this test
// binary, or the server named by UPSHIFT_TEST_DATABASE_URL. It is safe for
// concurrent use by parallel tests.
type PG struct {
	Host string // "127.0.0.1" for the throwaway cluster
	Port int
	User string // a superuser ("postgres") for the throwaway cluster

	admin   url.URL // DSN of the maintenance database; may hold a password
	logPath string  // server log, "" for an external server
	seq     atomic.Int64
}

// shared is the per-binary state behind Postgres and Main.
var shared struct {
	mu      sync.Mutex
	main    bool     // Main is running the tests
	tried   bool     // a start was attempted (pg or err is set)
	pg      *PG      // the server, once started or parsed
	err     error    // why it could not be started; reported to every caller
	cluster *cluster // the throwaway cluster, nil for an external server
}

// Postgres returns this test binary's PostgreSQL server, starting the
// throwaway cluster on first use (UPSHIFT_TEST_DATABASE_URL, when set, is
// used instead and nothing is started). The test is skipped when the
// PostgreSQL binaries are missing and CI is unset, and fails when they are
// missing and CI is set. Without UPSHIFT_TEST_DATABASE_URL the package must
// call [Main] from TestMain, so that the cluster is stopped and removed;
// otherwise the test fails with a message saying so.
func Postgres(t testing.TB) *PG {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.tried {
		shared.tried = true
		if raw := os.Getenv(EnvDatabaseURL); raw != "" {
			shared.pg, shared.err = externalPG(raw)
		} else if !shared.main {
			shared.tried = false // a later test may come from a binary that does call Main
			t.Fatalf("testenv: Postgres needs TestMain to call testenv.Main (func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }) so the cluster is stopped, or %s to be set", EnvDatabaseURL)
		} else {
			start := time.Now()
			shared.cluster, shared.err = startCluster()
			if shared.err == nil {
				shared.pg = shared.cluster.pg
				t.Logf("testenv: PostgreSQL cluster started on 127.0.0.1:%d in %v", shared.pg.Port, time.Since(start).Round(time.Millisecond))
			}
		}
	}
	needBinary(t, shared.err)
	if shared.pg.logPath != "" {
		logFileOnFailure(t, "postgres", shared.pg.logPath)
	}
	return shared.pg
}

// Main runs the tests of m and then stops and removes the throwaway
// cluster, if one was started. It returns the exit code for os.Exit; a
// failure to stop the cluster turns a passing run into exit code 1.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.main = false
	if c := shared.cluster; c != nil {
		shared.cluster, shared.pg, shared.tried = nil, nil, false
		if err := c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop PostgreSQL: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// externalPG describes the server named by the URL raw.
func externalPG(raw string) (*PG, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The error text of url.Parse may quote the password: do not wrap it.
		return nil, fmt.Errorf("%s must be a postgres:// URL with a host", EnvDatabaseURL)
	}
	pg := &PG{Host: u.Hostname(), Port: 5432, User: u.User.Username(), admin: *u}
	if p := u.Port(); p != "" {
		if pg.Port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("%s: port %q: %w", EnvDatabaseURL, p, err)
		}
	}
	if pg.User == "" {
		pg.User = os.Getenv("PGUSER")
	}
	return pg, nil
}

// AdminDSN returns the DSN of the server's maintenance database (the
// throwaway cluster's "postgres" database, or UPSHIFT_TEST_DATABASE_URL as
// given). Tests should create their own database with NewDatabase instead
// of writing here.
func (pg *PG) AdminDSN() string {
	return pg.admin.String()
}

// NewDatabase creates an empty database with a name unique to this test and
// returns its DSN (postgres://user@127.0.0.1:PORT/NAME?sslmode=disable for
// the throwaway cluster). At cleanup it terminates the database's backends
// and drops it; cleanups registered later (a connection pool's Close) run
// before that.
func (pg *PG) NewDatabase(t testing.TB) string {
	t.Helper()
	name := pg.dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %q on %s: %v", name, pg.admin.Redacted(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.dropDatabase(ctx, name); err != nil {
			t.Errorf("testenv: drop database %q: %v", name, err)
		}
	})
	u := pg.admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// dbName builds a valid, unique database name from a test name: the test
// name's letters and digits, this process's id, a sequence number and a
// random suffix (so that test binaries sharing one external server do not
// collide).
func (pg *PG) dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("t_%s_%d_%d_%s", strings.Trim(b.String(), "_"), os.Getpid(), pg.seq.Add(1), hex.EncodeToString(rnd[:]))
}

func (pg *PG) adminExec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, pg.admin.String())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return err
	}
	return nil
}

// dropDatabase terminates the backends connected to name and drops it
// (WITH (FORCE) where the server has it, PostgreSQL 13 and later).
func (pg *PG) dropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, pg.admin.String())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		return fmt.Errorf("terminate backends: %w", err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: before PostgreSQL 13
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
	}
	return err
}
