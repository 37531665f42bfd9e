package kongrelease

import "fmt"

// DataPlaneAccepted applies Kong's control-plane check on a connecting data
// plane, exactly as K: kong/clustering/compat/init.lua
// check_kong_version_compatibility does (kong-facts §4.2): a different
// major is refused, a data-plane minor newer than the control plane's is
// refused, and patch and build are ignored (a data plane any number of
// minors older is accepted). reason is Kong's own message for a refusal
// (sync_status kong_version_incompatible), "" when accepted.
func DataPlaneAccepted(cp, dp Version) (ok bool, reason string) {
	if cp.Major != dp.Major {
		return false, fmt.Sprintf("data plane version %s is incompatible with control plane version %s (%d.x.y are accepted)", dp, cp, cp.Major)
	}
	if cp.Minor < dp.Minor {
		return false, fmt.Sprintf("data plane version %s is incompatible with older control plane version %s", dp, cp)
	}
	return true, ""
}

// Hybrid31Target is where a hybrid deployment on an affected 3.1 version
// must go first. Kong's 3.1 releases changed the CP/DP WebSocket protocol:
// 3.1.0.0 and 3.1.1.1 lack the legacy protocol and 3.2.0.0 dropped the new
// one. The two sources disagree on 3.1.1.2: the new docs (N:
// app/gateway/upgrade/reference.md) say "go to 3.1.1.2 first", the old
// upgrade-path table (D: app/_includes/md/gateway/upgrade-paths.md, removed
// in 435e300) says "3.1.0.x-3.1.1.2 Hybrid → 3.1.1.3 first". Upshift takes
// the stricter reading (kong-facts §4.1).
var Hybrid31Target = Version{Major: 3, Minor: 1, Patch: 1, Build: 3, Enterprise: true}

// Hybrid31Stop reports whether a hybrid-mode hop from → to must stop at
// Hybrid31Target first: from is an Enterprise 3.1.0.x–3.1.1.2 and to is
// past Hybrid31Target. The rule is about Enterprise builds (the versions
// the sources name are 4-part); open-source 3.1.x is not affected.
func Hybrid31Stop(from, to Version) bool {
	return from.Enterprise && from.Series() == (Series{3, 1}) &&
		from.Compare(Hybrid31Target) < 0 && to.Compare(Hybrid31Target) > 0
}

// CassandraRemoved is the first version without Cassandra support: "no
// Cassandra in ≥3.4" (kong-facts §4.1, §4.3).
var CassandraRemoved = Version{Major: 3, Minor: 4}
