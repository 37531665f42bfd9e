package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hop is an upgrade Kong guarantees (kong-facts §0): a patch, or a series to
// the next.
type hop struct{ from, to string }

var (
	seriesHops = []hop{{"3.5.0", "3.6.1"}, {"3.6.1", "3.7.1"}, {"3.7.1", "3.8.0"}, {"3.8.0", "3.9.1"}}
	patchHops  = []hop{{"3.9.0", "3.9.1"}}
	strategies = []string{"dual_cluster", "blue_green", "in_place", "rolling"}
)

// genPlan returns plan number i: a realistic plan of one of the four
// strategies, each on its own cluster so that the set needs no depends_on.
// Every tenth plan is unformatted (misaligned "=", wrong indentation,
// extra blank lines) but syntactically valid.
func genPlan(i int) []byte {
	strategy := strategies[i%len(strategies)]
	cluster := fmt.Sprintf("shop-%04d", i)
	name := fmt.Sprintf("%s-%s", cluster, strategy)
	h := seriesHops[(i/4)%len(seriesHops)]
	if strategy == "blue_green" {
		h = patchHops[(i/4)%len(patchHops)]
	}
	env := strings.ToUpper(strings.ReplaceAll(cluster, "-", "_"))
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Plan %d: %s upgrade of %s from %s to %s.\n", i, strategy, cluster, h.from, h.to)
	w("upgrade %q {\n", name)
	w("  cluster  = %q\n", cluster)
	w("  strategy = %q\n", strategy)
	switch strategy {
	case "rolling":
		w("  mode     = \"dbless\"\n")
	default:
		w("  mode     = \"traditional\"\n")
	}
	if strategy == "in_place" {
		w("\n  acknowledge = [\"UP019\"] # downtime accepted: a staging cluster\n")
	}
	w("\n")
	switch strategy {
	case "rolling":
		nodes := 1 + i%4
		for _, side := range []struct{ block, v, letter, hook string }{{"from", h.from, "x", "stop"}, {"to", h.to, "y", "start"}} {
			w("  %s {\n    version = %q\n", side.block, side.v)
			for n := 1; n <= nodes; n++ {
				node := fmt.Sprintf("%s-%s%d", cluster, side.letter, n)
				up := strings.ToUpper(side.letter)
				w("    node %q {\n", node)
				w("      admin_url = env(\"%s_%s%d_ADMIN_URL\")\n", env, up, n)
				w("      proxy_url = env(\"%s_%s%d_PROXY_URL\")\n", env, up, n)
				w("      %-9s = [\"./nodes.sh\", %q, %q]\n", side.hook, side.hook, node)
				w("    }\n")
			}
			w("  }\n\n")
		}
	default:
		w("  from {\n")
		w("    version     = %q\n", h.from)
		w("    admin_url   = env(\"%s_X_ADMIN_URL\")\n", env)
		w("    admin_token = env(\"%s_X_ADMIN_TOKEN\")\n", env)
		w("    proxy_url   = env(\"%s_X_PROXY_URL\")\n", env)
		w("    database { dsn = env(\"%s_X_DSN\") }\n", env)
		w("    start = [\"./deploy.sh\", \"start\", \"x\"]\n")
		w("    stop  = [\"./deploy.sh\", \"stop\", \"x\"]\n")
		w("  }\n\n")
		w("  to {\n")
		w("    version     = %q\n", h.to)
		w("    admin_url   = env(\"%s_Y_ADMIN_URL\")\n", env)
		w("    admin_token = env(\"%s_Y_ADMIN_TOKEN\")\n", env)
		w("    proxy_url   = env(\"%s_Y_PROXY_URL\")\n", env)
		if strategy == "dual_cluster" {
			w("    database { dsn = env(\"%s_Y_DSN\") } # Y's own database\n", env)
		}
		w("\n    kong  = [\"kong\"] # Y's kong CLI, for the migrations\n")
		w("    start = [\"./deploy.sh\", \"start\", \"y\"]\n")
		w("    stop  = [\"./deploy.sh\", \"stop\", \"y\"]\n")
		w("  }\n\n")
	}
	w("  backup {\n    dir  = \"/var/lib/upshift/backups/%s\"\n    keep = %d\n  }\n\n", cluster, 3+i%5)
	if strategy != "in_place" {
		w("  traffic \"command\" {\n")
		w("    set = [\"./lb.sh\", \"set\", %q, \"{from_weight}\", \"{to_weight}\"]\n", cluster)
		w("    get = [\"./lb.sh\", \"get\", %q]\n", cluster)
		w("  }\n\n")
	}
	checks := []string{"/healthz", "/orders/ping", "/status-probe"}
	for c := 0; c < 1+i%len(checks); c++ {
		w("  check \"check_%d\" {\n", c)
		w("    request {\n      path = %q\n    }\n", checks[c])
		w("    expect {\n      status = 200\n    }\n  }\n\n")
	}
	w("  analysis \"y_not_worse_than_x\" {\n")
	w("    compare           = \"kong_metrics\"\n")
	w("    error_rate_margin = 0.0%d\n", 1+i%5)
	w("  }\n")
	if strategy != "in_place" {
		w("\n  rollout {\n")
		weights := [][]int{{50, 100}, {10, 50, 100}, {5, 25, 50, 100}}[i%3]
		for _, wt := range weights {
			w("    step {\n      weight = %d\n      pause  = \"%dm\"\n    }\n", wt, 1+i%10)
		}
		w("  }\n")
	}
	w("}\n")
	src := b.String()
	if i%10 == 0 {
		src = unformat(src)
	}
	return []byte(src)
}

// unformat breaks the layout but not the syntax: "=" no longer aligned,
// indentation off by one, blank lines doubled.
func unformat(src string) string {
	r := strings.NewReplacer("  cluster  = ", "  cluster = ", "    version     = ", "     version = ", "\n\n", "\n\n\n")
	return r.Replace(src)
}

// generate writes n plans into dir as NNNN.upshift.hcl and, when tfDir is
// not empty, the same files as NNNN.tf into tfDir. It returns the plan
// paths and how many of them are unformatted.
func generate(dir, tfDir string, n int) (paths []string, unformatted int, err error) {
	for i := 0; i < n; i++ {
		src := genPlan(i)
		p := filepath.Join(dir, fmt.Sprintf("%04d.upshift.hcl", i))
		if err := os.WriteFile(p, src, 0o644); err != nil {
			return nil, 0, fmt.Errorf("generate plan %d: %w", i, err)
		}
		paths = append(paths, p)
		if tfDir != "" {
			if err := os.WriteFile(filepath.Join(tfDir, fmt.Sprintf("%04d.tf", i)), src, 0o644); err != nil {
				return nil, 0, fmt.Errorf("generate plan %d: %w", i, err)
			}
		}
		if i%10 == 0 {
			unformatted++
		}
	}
	return paths, unformatted, nil
}
