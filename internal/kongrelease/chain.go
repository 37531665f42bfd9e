package kongrelease

import (
	"errors"
	"fmt"
)

// LastOpenSource is the last series Kong released as open source: the
// Kong/kong release tags end with 3.9.x; 3.10 and later ship as
// Enterprise only, with 4-part versions (kong-facts "Versions and
// editions"). Lint's UP033 and `upshift path` both decide from it.
var LastOpenSource = Series{3, 9}

// OpenSource reports whether Kong released series s as open source (s
// need not be a known series: 3.20 is not open source either).
func (s Series) OpenSource() bool { return s.Compare(LastOpenSource) <= 0 }

// Known reports whether s is a series Kong has released (releasedSeries).
func (s Series) Known() bool {
	for _, r := range releasedSeries {
		if r == s {
			return true
		}
	}
	return false
}

// Released says why v's series was never released in v's edition, or
// returns nil. Only series are known: a patch that does not exist (3.9.7)
// is not detected. Enterprise is taken to exist for every known series.
func Released(v Version) error {
	s := v.Series()
	if !s.Known() {
		first, last := releasedSeries[0], releasedSeries[len(releasedSeries)-1]
		return fmt.Errorf("%s: unknown Kong version: no %s series is known (Upshift knows %s to %s)", v, s, first, last)
	}
	if !v.Enterprise && !s.OpenSource() {
		return fmt.Errorf("%s: Kong never released %s as open source: the open-source releases end with %s.x, and %s and later are Enterprise only, with 4-part versions (%s.0.x)",
			v, s, LastOpenSource, NextSeries(LastOpenSource), s)
	}
	return nil
}

// Hop is one guaranteed upgrade: From → To, of kind Kind (PathPatch,
// PathMinor or PathLTS).
type Hop struct {
	From, To Version
	Kind     PathKind
}

// ErrSameVersion is Chain's answer when from equals to.
var ErrSameVersion = errors.New("from and to are the same version: nothing to upgrade")

// Chain splits from → to into guaranteed hops (UpgradePath's Via, the
// knowledge behind UP004): each stop in between is its series' first
// release (X.Y.0, or X.Y.0.0 for Enterprise; Kong guarantees patch →
// patch, so a later patch of the series will do too). With hybrid, an
// Enterprise 3.1.0.x–3.1.1.2 goes to Hybrid31Target first (UP015). It
// refuses a downgrade, an edition change, and a version whose series is
// unknown or was never released in its edition, each with a message that
// says so.
func Chain(from, to Version, hybrid bool) ([]Hop, error) {
	for _, v := range []Version{from, to} {
		if err := Released(v); err != nil {
			return nil, err
		}
	}
	if from.Enterprise != to.Enterprise {
		return nil, fmt.Errorf("%s is %s and %s is %s: moving between editions is a migration of its own, not an upgrade path", from, from.Edition(), to, to.Edition())
	}
	res := UpgradePath(from, to)
	switch res.Kind {
	case PathSame:
		return nil, ErrSameVersion
	case PathDowngrade:
		return nil, fmt.Errorf("%s is older than %s: Kong's migrations are not reversible, there is no path down (restore the backup taken before the upgrade instead)", to, from)
	case PathNone:
		if len(res.Via) == 0 {
			return nil, fmt.Errorf("no documented upgrade path from %s to %s", from, to)
		}
	}
	stops := []Version{from}
	for _, s := range res.Via {
		v := Version{Major: s.Major, Minor: s.Minor, Enterprise: to.Enterprise}
		if hybrid && to.Enterprise && s == Hybrid31Target.Series() {
			v = Hybrid31Target // where a hybrid 3.1 must stop anyway
		}
		stops = append(stops, v)
	}
	stops = append(stops, to)
	if hybrid && Hybrid31Stop(from, stops[1]) {
		stops = append([]Version{from, Hybrid31Target}, stops[1:]...)
	}
	hops := make([]Hop, 0, len(stops)-1)
	for i := 1; i < len(stops); i++ {
		h := Hop{From: stops[i-1], To: stops[i], Kind: UpgradePath(stops[i-1], stops[i]).Kind}
		if !h.Kind.guaranteedHop() {
			return nil, fmt.Errorf("internal: hop %s → %s of the path %s → %s is not guaranteed", h.From, h.To, from, to)
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func (k PathKind) guaranteedHop() bool { return k == PathPatch || k == PathMinor || k == PathLTS }

// String names the kind as `upshift path` prints it.
func (k PathKind) String() string {
	switch k {
	case PathSame:
		return "same version"
	case PathPatch:
		return "patch"
	case PathMinor:
		return "next series"
	case PathLTS:
		return "LTS to LTS"
	case PathDowngrade:
		return "downgrade"
	}
	return "not guaranteed"
}
