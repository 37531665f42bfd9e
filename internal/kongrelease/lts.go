package kongrelease

// LTS is a long-term-support release series with its end of support.
type LTS struct {
	Series Series
	// EOL is the last day of support, YYYY-MM-DD.
	EOL string
}

// LTSReleases are Kong Gateway's long-term-support series, oldest first.
//
// Source: kong-facts §0.1 and §4.1 (N: app/gateway/upgrade/reference.md
// "Guaranteed upgrade paths"; EOL dates from D: app/_data/kong_versions.yml
// and the Konnect compatibility page). 3.14's EOL is not published in the
// sources; from 3.10 Kong ships one LTS a year with 3 years of support (N:
// app/gateway/version-support-policy.md), so it is derived as its release
// (March 2026) + 3 years.
var LTSReleases = []LTS{
	{Series{2, 8}, "2025-03-31"},  // D: kong_versions.yml
	{Series{3, 4}, "2026-08-31"},  // D: kong_versions.yml
	{Series{3, 10}, "2028-03-31"}, // D: kong_versions.yml
	{Series{3, 14}, "2029-03-31"}, // DERIVED: March 2026 release + 3 years
}

// IsLTS reports whether s is a long-term-support series.
func (s Series) IsLTS() bool {
	for _, l := range LTSReleases {
		if l.Series == s {
			return true
		}
	}
	return false
}

// NextLTS returns the LTS series after s (s itself need not be LTS), and
// false when none is known.
func NextLTS(s Series) (Series, bool) {
	for _, l := range LTSReleases {
		if l.Series.Compare(s) > 0 {
			return l.Series, true
		}
	}
	return Series{}, false
}

// BreakingChangesURL is Kong's page of breaking changes and known issues,
// release by release.
const BreakingChangesURL = "https://developer.konghq.com/gateway/breaking-changes/"

// ltsGuides are Kong's LTS → LTS upgrade guides, by the hop's first series.
var ltsGuides = map[Series]string{
	{2, 8}:  "https://developer.konghq.com/gateway/upgrade/lts-upgrade-28-34/",
	{3, 4}:  "https://developer.konghq.com/gateway/upgrade/lts-upgrade/",
	{3, 10}: "https://developer.konghq.com/gateway/upgrade/lts-upgrade-310-314/",
}

// LTSGuide is Kong's guide for the LTS → LTS hop from series from ("" when
// none is known).
func LTSGuide(from Series) string { return ltsGuides[from] }

// Skipped lists the series released strictly between from and to: what an
// LTS → LTS hop goes over without running each one.
func Skipped(from, to Series) []Series {
	var out []Series
	for s := NextSeries(from); s.Compare(to) < 0 && len(out) < 64; s = NextSeries(s) {
		out = append(out, s)
	}
	return out
}
