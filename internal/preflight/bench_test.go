package preflight

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
)

// BenchmarkRunDBLess10k: a whole preflight (GET /, decK's dump over the
// Admin API, the rules) of a kongsim 2.8.5 DB-less node holding 10,000
// entities: 2,000 services, each with two routes and two plugins.
func BenchmarkRunDBLess10k(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("_format_version: \"2.1\"\nservices:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&conf, "- name: svc-%d\n  url: http://127.0.0.1:9\n  routes:\n  - name: r-%d-a\n    paths: [\"/s%d/items/\\\\d+$\"]\n  - name: r-%d-b\n    paths: [\"/s%d/plain\"]\n  plugins:\n  - name: key-auth\n  - name: rate-limiting\n    config: {minute: 5, policy: local}\n", i, i, i, i, i)
	}
	ctx := context.Background()
	x, err := kongsim.Start(ctx, kongsim.Config{Version: "2.8.5", Database: "off", DeclarativeConfig: []byte(conf.String()),
		AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = x.Stop() }()
	xc, err := kong.New(kong.Options{AdminURL: x.AdminURL()})
	if err != nil {
		b.Fatal(err)
	}
	o := Options{X: Side{Client: xc, Version: kongrelease.MustParse("2.8.5")}, Y: Side{Version: kongrelease.MustParse("3.4.2")}}
	for b.Loop() {
		r, err := Run(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		if r.Sizes.Entities != 10000 {
			b.Fatalf("%d entities", r.Sizes.Entities)
		}
	}
}
