package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresNewDatabase(t *testing.T) {
	t.Parallel()
	pg := Postgres(t)
	if pg.Port == 0 || pg.Host == "" || pg.User == "" {
		t.Fatalf("PG fields not set: %+v", pg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var name string
	t.Run("create", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		// Left open on purpose: NewDatabase's cleanup must terminate it.
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatalf("query: %v", err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
			t.Fatalf("count = %d, %v; want 2", n, err)
		}
	})
	if name == "" {
		t.Fatal("subtest did not report its database")
	}
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("query pg_database: %v", err)
	}
	if exists {
		t.Fatalf("database %q still exists after its test's cleanup", name)
	}
}

// TestPostgresParallel creates databases from parallel tests: names must not
// collide and each database is isolated.
func TestPostgresParallel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			dsn := Postgres(t).NewDatabase(t)
			mu.Lock()
			if seen[dsn] {
				t.Errorf("DSN %s handed out twice", dsn)
			}
			seen[dsn] = true
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
				t.Fatalf("query: %v", err)
			}
			if n != 0 {
				t.Errorf("fresh database has %d tables in public, want 0", n)
			}
		})
	}
}

func TestDBName(t *testing.T) {
	pg := &PG{}
	a, b := pg.dbName("TestX/Sub Case-1"), pg.dbName("TestX/Sub Case-1")
	if a == b {
		t.Errorf("two names for one test are equal: %s", a)
	}
	if len(a) > 63 {
		t.Errorf("name %q longer than PostgreSQL's 63 bytes", a)
	}
	long := pg.dbName("TestAVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOn/with/many/parts")
	if len(long) > 63 {
		t.Errorf("name %q longer than 63 bytes", long)
	}
}
