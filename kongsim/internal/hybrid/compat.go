package hybrid

import (
	"fmt"

	"github.com/upshift-dev/upshift/kongrelease"
)

// dataPlaneAccepted is the control plane's version check
// (kong/clustering/compat/init.lua check_kong_version_compatibility):
// a different major, or a data plane minor newer than the control plane's,
// is kong_version_incompatible; patch and build are ignored.
//
// It stands in for kongrelease.DataPlaneAccepted (contract 3), which the
// plan-language work owns; when that lands, this delegates to it.
func dataPlaneAccepted(cp, dp kongrelease.Version) (bool, string) {
	if cp.Major != dp.Major {
		return false, fmt.Sprintf("data plane version %s is incompatible with control plane version %s (%d.x.y are accepted)", dp, cp, cp.Major)
	}
	if cp.Minor < dp.Minor {
		return false, fmt.Sprintf("data plane version %s is incompatible with older control plane version %s", dp, cp)
	}
	return true, ""
}
