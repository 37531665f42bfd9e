package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// BenchmarkLoadDeclarative10k loads a DB-less configuration of 10,000
// entities (2,000 services, each with two routes and two plugins: the
// world of preflight's BenchmarkRunDBLess10k) into a fresh Mem store: each
// insert checks its unique fields and cache key against the rows so far.
func BenchmarkLoadDeclarative10k(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("_format_version: \"2.1\"\nservices:\n")
	for i := range 2000 {
		fmt.Fprintf(&conf, "- name: svc-%d\n  url: http://127.0.0.1:9\n  routes:\n  - name: r-%d-a\n    paths: [\"/s%d/items/\\\\d+$\"]\n  - name: r-%d-b\n    paths: [\"/s%d/plain\"]\n  plugins:\n  - name: key-auth\n  - name: rate-limiting\n    config: {minute: 5, policy: local}\n", i, i, i, i, i)
	}
	s := &Store{Reg: NewRegistry(kongrelease.MustParse("2.8.5"))}
	ctx := context.Background()
	for b.Loop() {
		cfg, err := ParseDeclarative([]byte(conf.String()))
		if err != nil {
			b.Fatal(err)
		}
		d, err := s.LoadDeclarative(ctx, cfg, false)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, t := range d.Entities {
			n += len(t)
		}
		if n != 10000 {
			b.Fatalf("%d entities", n)
		}
	}
}
