package kongrelease

import (
	"fmt"
	"testing"
)

func TestUpgradePath(t *testing.T) {
	for _, c := range []struct {
		from, to string
		kind     PathKind
		via      string
	}{
		{"3.9.0", "3.9.1", PathPatch, ""},
		{"3.8.0", "3.9.1", PathMinor, ""},
		{"2.8.4", "3.0.0", PathMinor, ""}, // the next release after 2.8 is 3.0
		{"1.5.1", "2.0.0", PathMinor, ""},
		{"2.8.4", "3.4.2", PathLTS, ""},
		{"3.4.3.12", "3.10.0.2", PathLTS, ""},
		{"3.10.0.2", "3.14.0.0", PathLTS, ""},
		{"3.9.1", "3.9.1", PathSame, ""},
		{"3.9.1", "3.8.0", PathDowngrade, ""},
		{"3.9.1", "3.9.0", PathDowngrade, ""},
		{"3.4.2", "3.7.0", PathNone, "[3.5 3.6]"},            // kong-facts §0.1 example
		{"3.3.0", "3.10.0.1", PathNone, "[3.4]"},             // up to the LTS, then the LTS hop
		{"2.7.0", "3.10.0.1", PathNone, "[2.8 3.4]"},         // ... twice
		{"3.5.0", "3.10.0.1", PathNone, "[3.6 3.7 3.8 3.9]"}, // not from an LTS: every series
		{"3.4.0", "3.11.0.0", PathNone, "[3.10]"},
		{"3.14.0.0", "4.0.0", PathNone, "[]"}, // past what is known: no path to offer
	} {
		got := UpgradePath(MustParse(c.from), MustParse(c.to))
		if got.Kind != c.kind || (c.kind == PathNone && fmt.Sprint(got.Via) != c.via) {
			t.Errorf("UpgradePath(%s, %s) = %v %v, want %v %s", c.from, c.to, got.Kind, got.Via, c.kind, c.via)
		}
		if want := c.kind != PathNone && c.kind != PathDowngrade; got.Guaranteed() != want {
			t.Errorf("UpgradePath(%s, %s).Guaranteed() = %v", c.from, c.to, got.Guaranteed())
		}
	}
}

func TestLTS(t *testing.T) {
	for _, s := range []Series{{2, 8}, {3, 4}, {3, 10}, {3, 14}} {
		if !s.IsLTS() {
			t.Errorf("%s is an LTS", s)
		}
	}
	for _, s := range []Series{{2, 7}, {3, 9}, {3, 11}} {
		if s.IsLTS() {
			t.Errorf("%s is not an LTS", s)
		}
	}
	if n, ok := NextLTS(Series{3, 4}); !ok || n != (Series{3, 10}) {
		t.Errorf("NextLTS(3.4) = %v %v", n, ok)
	}
	if n, ok := NextLTS(Series{3, 5}); !ok || n != (Series{3, 10}) {
		t.Errorf("NextLTS(3.5) = %v %v", n, ok)
	}
	if _, ok := NextLTS(Series{3, 14}); ok {
		t.Errorf("NextLTS(3.14) is not known")
	}
	for i, l := range LTSReleases {
		if len(l.EOL) != len("2006-01-02") || (i > 0 && l.EOL <= LTSReleases[i-1].EOL) {
			t.Errorf("LTS %s: EOL %q malformed or not after the previous", l.Series, l.EOL)
		}
	}
}

func TestDataPlaneAccepted(t *testing.T) {
	// kong-facts §4.2, the docs' example: CP 3.9.0.1 accepts 3.9.0.0,
	// 3.8.1.0, 3.7.0.0, 3.9.1.0; rejects 2.8.0.0 and 3.10.0.0.
	cp := MustParse("3.9.0.1")
	for _, dp := range []string{"3.9.0.0", "3.8.1.0", "3.7.0.0", "3.9.1.0", "3.0.0"} {
		if ok, reason := DataPlaneAccepted(cp, MustParse(dp)); !ok {
			t.Errorf("CP %s refuses DP %s: %s", cp, dp, reason)
		}
	}
	for dp, want := range map[string]string{
		"2.8.0.0":  "data plane version 2.8.0.0 is incompatible with control plane version 3.9.0.1 (3.x.y are accepted)",
		"3.10.0.0": "data plane version 3.10.0.0 is incompatible with older control plane version 3.9.0.1",
		"4.0.0":    "data plane version 4.0.0 is incompatible with control plane version 3.9.0.1 (3.x.y are accepted)",
	} {
		ok, reason := DataPlaneAccepted(cp, MustParse(dp))
		if ok || reason != want {
			t.Errorf("DP %s: got %v %q, want refusal %q", dp, ok, reason, want)
		}
	}
}

func TestHybrid31Stop(t *testing.T) {
	for _, c := range []struct {
		from, to string
		stop     bool
	}{
		{"3.1.0.0", "3.2.0.0", true},
		{"3.1.1.1", "3.1.1.3", false}, // that is the stop itself
		{"3.1.1.2", "3.2.1.0", true},  // the stricter reading
		{"3.1.1.3", "3.2.0.0", false},
		{"3.1.0.0", "3.1.1.2", false},
		{"3.1.1", "3.2.0", false}, // open source is not affected
		{"3.0.1.0", "3.1.0.0", false},
	} {
		if got := Hybrid31Stop(MustParse(c.from), MustParse(c.to)); got != c.stop {
			t.Errorf("Hybrid31Stop(%s, %s) = %v", c.from, c.to, got)
		}
	}
}
