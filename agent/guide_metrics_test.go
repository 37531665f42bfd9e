package agent

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestGuideListsEveryMetric: the operator's guide's metrics reference
// (docs/guide.md, "Metrics reference") lists exactly the metric families
// the agent's /metrics serves, each with its type and its label names: a
// metric added without a row, or a row whose metric is gone, fails.
// statusAgent has polled, has a head commit and ran a step, so every
// family and label appears.
func TestGuideListsEveryMetric(t *testing.T) {
	_, srv := statusAgent(t)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	served := map[string]string{} // "name type" -> "label,label"
	types := map[string]string{}
	labels := map[string]map[string]bool{}
	sample := regexp.MustCompile(`^([a-z_]+)(?:\{(.*)\})? `)
	label := regexp.MustCompile(`([a-z_]+)="`)
	for _, l := range strings.Split(string(body), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			labels[f[2]] = map[string]bool{}
			continue
		}
		m := sample.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		family := m[1]
		if _, ok := types[family]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(family, suf); ok && types[base] != "" {
					family = base
				}
			}
		}
		if _, ok := types[family]; !ok {
			t.Errorf("/metrics: sample %q has no # TYPE line", l)
			continue
		}
		for _, lm := range label.FindAllStringSubmatch(m[2], -1) {
			labels[family][lm[1]] = true
		}
	}
	for name, typ := range types {
		var ls []string
		for l := range labels[name] {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		served[name+" "+typ] = strings.Join(ls, ",")
	}
	if len(served) < 5 {
		t.Fatalf("/metrics served %d families:\n%s", len(served), body)
	}

	raw, err := os.ReadFile(filepath.Join("..", "docs", "guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Metrics reference\n")
	if !ok {
		t.Fatal(`docs/guide.md has no "## Metrics reference" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := map[string]string{}
	// | `name` | type | `label`, `label` or — | meaning |
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	for _, l := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var ls []string
		for _, f := range strings.Split(m[3], ",") {
			if f = strings.Trim(strings.TrimSpace(f), "`"); f != "" && f != "—" {
				ls = append(ls, f)
			}
		}
		sort.Strings(ls)
		listed[m[1]+" "+m[2]] = strings.Join(ls, ",")
	}
	for k, ls := range served {
		got, ok := listed[k]
		switch {
		case !ok:
			t.Errorf("the agent serves %s (labels %q); docs/guide.md's metrics reference does not list it", k, ls)
		case got != ls:
			t.Errorf("%s: the guide lists labels %q, the agent serves %q", k, got, ls)
		}
	}
	for k := range listed {
		if _, ok := served[k]; !ok {
			t.Errorf("docs/guide.md lists %s; the agent does not serve it", k)
		}
	}
}

// TestStepMetricKinds: upshift_step_duration_seconds' step label is the
// step's kind, as the guide says: a rolling node's start_to:NODE counts
// as start_to (it was "start", cut at start_to's own underscore), a
// traffic or pause step without its weight.
func TestStepMetricKinds(t *testing.T) {
	m := newMetrics()
	for _, s := range []string{"start_to", "start_to:edge-y1", "start_to:edge_y2", "traffic_10", "pause_100", "rollback_traffic", "guard"} {
		m.observeStep(s, time.Second)
	}
	var b strings.Builder
	m.write(&b, nil, false)
	for _, want := range []string{`{step="start_to"} 3`, `{step="traffic"} 1`, `{step="pause"} 1`, `{step="rollback_traffic"} 1`, `{step="guard"} 1`} {
		if !strings.Contains(b.String(), "upshift_step_duration_seconds_count"+want+"\n") {
			t.Errorf("/metrics lacks upshift_step_duration_seconds_count%s:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), `step="start"`) || strings.Contains(b.String(), "edge") {
		t.Errorf("a step label carries a node or a cut name:\n%s", b.String())
	}
}
