package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// fixture is one case of testdata/<rule id>.yaml: a decK file and what
// the rules see around it. from and to default to the rule's hop (the
// series before it → the hop), mode to file when the rule runs on files.
type fixture struct {
	From   string         `yaml:"from"`
	To     string         `yaml:"to"`
	Mode   Mode           `yaml:"mode"`
	XConf  map[string]any `yaml:"x_configuration"`
	YConf  map[string]any `yaml:"y_configuration"`
	YPlug  []string       `yaml:"y_plugins"`
	Deck   map[string]any `yaml:"deck"`
	Checks []Check        `yaml:"checks"`
	Reason string         `yaml:"reason"`
	// Strategy is the plan's (none by default, as offline).
	Strategy string `yaml:"strategy"`
}

type fixtures struct {
	Trips  *fixture `yaml:"trips"`
	Passes *fixture `yaml:"passes"`
}

// TestRuleFixtures runs every rule on its two fixtures: the one that trips
// it must yield a finding of that rule (with the rule's severity for the
// mode), the one that does not must yield none. A rule without both
// fixtures fails, and so does a fixture file without a rule.
func TestRuleFixtures(t *testing.T) {
	ids := map[string]bool{}
	for _, r := range Table {
		if ids[r.ID] {
			t.Errorf("rule id %s appears twice", r.ID)
		}
		ids[r.ID] = true
		t.Run(r.ID, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", r.ID+".yaml"))
			if err != nil {
				t.Fatalf("rule %s has no fixtures: %v", r.ID, err)
			}
			var fx fixtures
			if err := yaml.Unmarshal(data, &fx); err != nil {
				t.Fatal(err)
			}
			if fx.Trips == nil || fx.Passes == nil {
				t.Fatalf("testdata/%s.yaml needs both trips and passes", r.ID)
			}
			in := fx.Trips.input(t, r)
			got := ofRule(Evaluate(in, nil), r.ID)
			if len(got) == 0 {
				t.Fatalf("trips: no %s finding", r.ID)
			}
			if want := r.Severity[in.Mode]; got[0].Severity != want {
				t.Errorf("trips: severity %s, want %s in mode %s", got[0].Severity, want, in.Mode)
			}
			if got[0].Fix == "" || got[0].Source == "" {
				t.Errorf("trips: finding without fix or source: %+v", got[0])
			}
			if got := ofRule(Evaluate(fx.Passes.input(t, r), nil), r.ID); len(got) != 0 {
				t.Errorf("passes: %s fired: %v", r.ID, got)
			}
			if r.Acknowledgeable {
				acked := ofRule(Evaluate(fx.Trips.input(t, r), map[string]bool{r.ID: true}), r.ID)
				if len(acked) == 0 || !acked[0].Acknowledged || acked[0].Severity != Info {
					t.Errorf("acknowledged: %+v", acked)
				}
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		if id := strings.TrimSuffix(filepath.Base(f), ".yaml"); !ids[id] {
			t.Errorf("%s: no rule %s", f, id)
		}
	}
}

func ofRule(fs []Finding, id string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

func (f *fixture) input(t *testing.T, r *Rule) *Input {
	t.Helper()
	from, to := f.From, f.To
	if r.Hop != "" {
		h := kongrelease.MustParse(r.Hop + ".0")
		if to == "" {
			to = h.String()
		}
		if from == "" {
			prev := kongrelease.Version{Major: h.Major, Minor: h.Minor - 1}
			if h.Minor == 0 {
				prev = kongrelease.Version{Major: 2, Minor: 8}
			}
			from = prev.String()
		}
	}
	if from == "" {
		from = "2.8.5"
	}
	if to == "" {
		to = "3.4.2"
	}
	in := &Input{Content: FromMap(f.Deck), From: kongrelease.MustParse(from), To: kongrelease.MustParse(to),
		Mode: f.Mode, XConf: f.XConf, YConf: f.YConf, Checks: f.Checks, Strategy: f.Strategy}
	if f.Deck == nil {
		in.Content = FromMap(map[string]any{})
	}
	if in.Mode == "" {
		in.Mode = ModeFile
		if _, ok := r.Severity[ModeFile]; !ok {
			in.Mode = ModeDBLess
		}
	}
	if f.YPlug != nil {
		in.YPlugins = map[string]bool{}
		for _, p := range f.YPlug {
			in.YPlugins[p] = true
		}
	}
	if !r.Applies(in.From, in.To) {
		t.Fatalf("fixture %s → %s does not cross hop %s", from, to, r.Hop)
	}
	return in
}

// TestEveryRuleComplete: each row names its entity, fix and source and
// has a severity in at least one mode.
func TestEveryRuleComplete(t *testing.T) {
	for _, r := range Table {
		if r.Entity == "" || r.Summary == "" || r.Fix == "" || r.Source == "" || len(r.Severity) == 0 || r.Check == nil {
			t.Errorf("%s is incomplete: %+v", r.ID, r)
		}
		for m := range r.Severity {
			if !slices.Contains(Modes, m) {
				t.Errorf("%s: unknown mode %q", r.ID, m)
			}
		}
		if r.Hop != "" && !strings.HasPrefix(r.ID, "PF"+strings.ReplaceAll(r.Hop, ".", "")+"-") {
			t.Errorf("%s: id does not name hop %s", r.ID, r.Hop)
		}
	}
}
