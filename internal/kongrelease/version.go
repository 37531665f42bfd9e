package kongrelease

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Kong Gateway version. Open-source releases have three parts
// ("3.9.1"); Enterprise releases have four ("3.4.3.12"), and legacy
// Enterprise strings carry a suffix ("3.0.0.0-enterprise-edition").
// Source: kong-facts §1.1 and Kong/go-kong kong/utils.go ParseSemanticVersion,
// which accepts the same three forms.
type Version struct {
	Major, Minor, Patch int
	// Build is the fourth part of an Enterprise version; 0 for open source.
	Build int
	// Enterprise is true for 4-part versions and for "-enterprise-edition".
	Enterprise bool
}

// Parse reads a Kong version string. It accepts "X.Y.Z" (open source),
// "X.Y.Z.B" (Enterprise) and "X.Y.Z.B-enterprise-edition" (legacy
// Enterprise). Anything else is an error that says which forms are valid.
func Parse(s string) (Version, error) {
	orig := s
	var v Version
	if rest, ok := strings.CutSuffix(s, "-enterprise-edition"); ok {
		s = rest
		v.Enterprise = true
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 && len(parts) != 4 {
		return Version{}, fmt.Errorf("invalid Kong version %q: want X.Y.Z (open source) or X.Y.Z.B (Enterprise)", orig)
	}
	if len(parts) == 4 {
		v.Enterprise = true
	} else if v.Enterprise {
		return Version{}, fmt.Errorf("invalid Kong version %q: an -enterprise-edition version has four parts", orig)
	}
	nums := make([]int, 4)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') || len(p) > 6 {
			return Version{}, fmt.Errorf("invalid Kong version %q: part %d (%q) is not a number", orig, i+1, p)
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch, v.Build = nums[0], nums[1], nums[2], nums[3]
	return v, nil
}

// MustParse is Parse for constants in tables and tests; it panics on error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String prints the version in the form it was written: three parts for
// open source, four for Enterprise.
func (v Version) String() string {
	if v.Enterprise {
		return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Patch, v.Build)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Edition is "enterprise" or "community", as Kong >= 3.6 reports it in GET /.
func (v Version) Edition() string {
	if v.Enterprise {
		return "enterprise"
	}
	return "community"
}

// Compare orders versions by major, minor, patch, then build. Editions are
// not compared: 3.4.3.12 sorts after 3.4.3.
func (v Version) Compare(o Version) int {
	for _, d := range [...]int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch, v.Build - o.Build} {
		if d < 0 {
			return -1
		}
		if d > 0 {
			return 1
		}
	}
	return 0
}

// AtLeast reports whether v >= major.minor.patch (build ignored).
func (v Version) AtLeast(major, minor, patch int) bool {
	return v.Compare(Version{Major: major, Minor: minor, Patch: patch}) >= 0
}

// Series is the major.minor release series of v ("3.9").
func (v Version) Series() Series { return Series{Major: v.Major, Minor: v.Minor} }

// Series is a major.minor release line such as 3.4.
type Series struct{ Major, Minor int }

func (s Series) String() string { return fmt.Sprintf("%d.%d", s.Major, s.Minor) }

// Compare orders series by major then minor.
func (s Series) Compare(o Series) int {
	switch {
	case s.Major != o.Major:
		if s.Major < o.Major {
			return -1
		}
		return 1
	case s.Minor < o.Minor:
		return -1
	case s.Minor > o.Minor:
		return 1
	}
	return 0
}
