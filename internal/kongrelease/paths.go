package kongrelease

// This file holds Kong's guaranteed upgrade paths and the version minimums
// that constrain a hop. Sources are kong-facts §0.1 and §4.1.

// releasedSeries lists every Kong Gateway major.minor series in release
// order. Source: the Kong/kong release tags (1.0–3.9, open source) and, for
// 3.10 onwards, the Enterprise-only releases named in kong-facts "Versions
// and editions" and §4.1 (3.10 LTS, 3.14 LTS); 3.11–3.13 are DERIVED (the
// minors between two LTS releases, which Kong ships in sequence).
var releasedSeries = []Series{
	{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5},
	{2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}, {2, 5}, {2, 6}, {2, 7}, {2, 8},
	{3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 5}, {3, 6}, {3, 7}, {3, 8}, {3, 9},
	{3, 10}, {3, 11}, {3, 12}, {3, 13}, {3, 14},
}

// NextSeries returns the series released after s. Past the known list it
// assumes the next minor of the same major (Kong has not announced 4.0).
func NextSeries(s Series) Series {
	for i, r := range releasedSeries {
		if r == s && i+1 < len(releasedSeries) {
			return releasedSeries[i+1]
		}
	}
	return Series{s.Major, s.Minor + 1}
}

// Min2xFor3x is the lowest version from which Kong 3.x migrates: "The lowest
// version that 3.0.x supports migrating from is 2.1.x" (kong-facts §4.1, N:
// app/gateway/upgrade/reference.md).
var Min2xFor3x = Version{Major: 2, Minor: 1}

// BlueGreenMinimum is the lowest version a blue-green upgrade may start
// from: "Kong Gateway 2.8.2.x or later ... upgrade to at least 2.8.2.0
// before starting any upgrades to the 3.x series" (kong-facts §4.1, N/D
// blue-green.md). Compared without the build part, so 2.8.2 and 2.8.2.0
// both qualify.
var BlueGreenMinimum = Version{Major: 2, Minor: 8, Patch: 2}

// PathKind says why a hop is (or is not) guaranteed.
type PathKind int

const (
	// PathNone: not a guaranteed path; go through PathResult.Via.
	PathNone PathKind = iota
	// PathSame: the same version (nothing to upgrade).
	PathSame
	// PathPatch: a patch upgrade within one series.
	PathPatch
	// PathMinor: to the next series.
	PathMinor
	// PathLTS: from an LTS series to the next LTS series.
	PathLTS
	// PathDowngrade: to is older than from.
	PathDowngrade
)

// PathResult is the verdict on a hop from one version to another.
type PathResult struct {
	Kind PathKind
	// Via lists, for PathNone, the series to upgrade to in between, in
	// order (3.4 → 3.7: 3.5, 3.6), taking LTS hops where they shorten the
	// way. Empty when no way is known (a series past the known list).
	Via []Series
}

// Guaranteed reports whether Kong guarantees the hop (or it is no hop).
func (r PathResult) Guaranteed() bool { return r.Kind != PathNone && r.Kind != PathDowngrade }

// UpgradePath applies Kong's guaranteed upgrade paths (kong-facts §0.1, N:
// app/gateway/upgrade/reference.md "Guaranteed upgrade paths"): patch to
// patch in one series, a series to the next, an LTS to the next LTS. Any
// other hop must go through every series in between; Via lists them.
func UpgradePath(from, to Version) PathResult {
	switch c := from.Compare(to); {
	case c == 0:
		return PathResult{Kind: PathSame}
	case c > 0:
		return PathResult{Kind: PathDowngrade}
	}
	fs, ts := from.Series(), to.Series()
	switch {
	case fs == ts:
		return PathResult{Kind: PathPatch}
	case NextSeries(fs) == ts:
		return PathResult{Kind: PathMinor}
	}
	if next, ok := NextLTS(fs); ok && fs.IsLTS() && next == ts {
		return PathResult{Kind: PathLTS}
	}
	// Shortest way: from each stop, jump to the next LTS when the stop is
	// an LTS and that does not overshoot, else to the next series.
	var via []Series
	cur := fs
	for range 64 {
		step := NextSeries(cur)
		if lts, ok := NextLTS(cur); ok && cur.IsLTS() && lts.Compare(ts) <= 0 {
			step = lts
		}
		if step == ts {
			return PathResult{Kind: PathNone, Via: via}
		}
		if step.Compare(ts) > 0 {
			break
		}
		via = append(via, step)
		cur = step
	}
	return PathResult{Kind: PathNone}
}
