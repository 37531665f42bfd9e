package schema

import (
	"testing"

	"github.com/upshift-dev/upshift/plan"
)

func TestDSNHasPassword(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://kong@db/kong":                      false,
		"postgres://kong:secret@db/kong":               true,
		"postgresql://kong:@db/kong":                   true, // an empty password is still written
		"postgres://db/kong?password=secret":           true,
		"postgres://kong:s%zz@db/kong":                 true, // unparsable, still user:password@
		"host=db dbname=kong user=kong":                false,
		"host=db dbname=kong user=kong password=s":     true,
		"host=db dbname=kong user=kong PASSWORD='s x'": true,
		"": false,
	} {
		if got := dsnHasPassword(dsn); got != want {
			t.Errorf("dsnHasPassword(%q) = %v", dsn, got)
		}
	}
}

func TestSameDatabase(t *testing.T) {
	lit := func(s string) plan.Value { return plan.Value{Literal: s, Set: true} }
	env := func(s string) plan.Value { return plan.Value{IsEnv: true, EnvOK: true, EnvName: s, Set: true} }
	for _, c := range []struct {
		x, y plan.Value
		same bool
	}{
		{env("A"), env("A"), true},
		{env("A"), env("B"), false},
		{env("A"), lit("postgres://kong@db/kong"), false}, // cannot tell at lint time
		{lit("postgres://kong@db/kong"), lit("postgres://kong@db/kong"), true},
		{lit("postgres://kong@db:5432/kong"), lit("host=db dbname=kong"), true},
		{lit("postgres://kong@127.0.0.1/kong"), lit("postgres://other@localhost:5432/kong?sslmode=disable"), true},
		{lit("postgres://kong@db/kong"), lit("postgres://kong@db/kong_y"), false},
		{lit("postgres://kong@db:5433/kong"), lit("postgres://kong@db/kong"), false},
		{lit("postgres:///kong?host=/run/pg"), lit("host=/run/pg dbname=kong"), true},
		{lit("nonsense"), lit("other nonsense"), false},
	} {
		if got, _ := sameDatabase(c.x, c.y); got != c.same {
			t.Errorf("sameDatabase(%v, %v) = %v", c.x, c.y, got)
		}
	}
}
