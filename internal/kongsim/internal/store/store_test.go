package store

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func pgStore(t *testing.T) *Store {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ddl := CoreSchema()
	for _, s := range PluginSubsystems() {
		ddl += PluginSchema(s)
	}
	if _, err := pool.Exec(ctx, ddl); err != nil {
		t.Fatalf("DDL: %v", err)
	}
	return &Store{Reg: NewRegistry(kongrelease.MustParse("3.8.0")), Backend: &PG{Pool: pool}}
}

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStoreRules(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) *Store{
		"pg": pgStore,
		"mem": func(*testing.T) *Store {
			return &Store{Reg: NewRegistry(kongrelease.MustParse("3.8.0")), Backend: NewMem()}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			ctx := context.Background()
			svcE, routeE := s.Reg.ByName("services"), s.Reg.ByName("routes")
			svc, err := s.Insert(ctx, svcE, obj(t, `{"name":"echo","url":"http://echo.internal:8080/x"}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if svc["host"] != "echo.internal" || svc["port"] != float64(8080) || svc["retries"] != float64(5) || svc["path"] != "/x" {
				t.Fatalf("service defaults: %v", svc)
			}
			_, err = s.Insert(ctx, svcE, obj(t, `{"name":"echo","host":"b"}`), nil)
			if e, ok := err.(*Error); !ok || e.Code != CodeUnique || e.Message != `UNIQUE violation detected on '{name="echo"}'` {
				t.Fatalf("unique: %#v", err)
			}
			_, err = s.Insert(ctx, svcE, obj(t, `{"name":"x","port":"80","foo":1}`), nil)
			if e, ok := err.(*Error); !ok || e.Message != "3 schema violations (foo: unknown field; host: required field missing; port: expected an integer)" {
				t.Fatalf("schema: %#v", err)
			}
			_, err = s.Insert(ctx, routeE, obj(t, `{"name":"r"}`), &Parent{Field: "service", ID: svc["id"].(string)})
			if e, ok := err.(*Error); !ok || e.Message != "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')" {
				t.Fatalf("route check: %#v", err)
			}
			_, err = s.Insert(ctx, routeE, obj(t, `{"paths":["/ok","^/x"]}`), nil)
			if e, ok := err.(*Error); !ok || e.Message != "schema violation (paths.2: should start with: / (fixed path) or ~/ (regex path))" {
				t.Fatalf("path prefix: %#v", err)
			}
			r, err := s.Insert(ctx, routeE, obj(t, `{"name":"r","paths":["/a"],"tags":["t1","t2"]}`), &Parent{Field: "service", ID: svc["id"].(string)})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Delete(ctx, svcE, svc)
			if e, ok := err.(*Error); !ok || e.Message != "an existing 'routes' entity references this 'services' entity" {
				t.Fatalf("restrict: %#v", err)
			}
			for i := 0; i < 5; i++ {
				if _, err := s.Insert(ctx, routeE, obj(t, `{"paths":["/p"],"tags":["t1"]}`), nil); err != nil {
					t.Fatal(err)
				}
			}
			seen := 0
			off := ""
			for pages := 0; pages < 10; pages++ {
				rows, next, err := s.Page(ctx, routeE, PageQuery{Size: 2, Offset: off, Tags: []string{"t1"}})
				if err != nil {
					t.Fatal(err)
				}
				seen += len(rows)
				if next == "" {
					break
				}
				off = next
			}
			if seen != 6 {
				t.Fatalf("paged %d routes, want 6", seen)
			}
			rows, _, _ := s.Page(ctx, routeE, PageQuery{Size: 10, Tags: []string{"t1", "t2"}})
			if len(rows) != 1 || rows[0]["id"] != r["id"] {
				t.Fatalf("AND tags: %v", rows)
			}
			_, _, err = s.Page(ctx, routeE, PageQuery{Size: 10, Offset: "!!"})
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidOffset {
				t.Fatalf("offset: %v", err)
			}
			if err := s.Delete(ctx, routeE, r); err != nil {
				t.Fatal(err)
			}
			got, err := s.Lookup(ctx, svcE, "echo", nil)
			if err != nil || got == nil {
				t.Fatalf("lookup by name: %v %v", got, err)
			}
			if !strings.HasPrefix(got["id"].(string), svc["id"].(string)[:8]) {
				t.Fatal("wrong service")
			}
		})
	}
}
