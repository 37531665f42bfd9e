package plugins

import (
	"fmt"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// bundledPlugin is a plugin Kong ships with a release: its handler's
// PRIORITY and VERSION. From 3.0 a bundled plugin's VERSION is the Kong
// version (kong_meta.version), kept empty in the table.
type bundledPlugin struct {
	Priority int
	Version  string
}

func (b bundledPlugin) version(v kongrelease.Version) string {
	if b.Version != "" {
		return b.Version
	}
	return v.String()
}

// bundled returns the plugins bundled with v: the table of v's series, the
// oldest table (2.8) for older versions, the newest (3.10) for newer ones.
func bundled(v kongrelease.Version) map[string]bundledPlugin {
	key := fmt.Sprintf("%d.%d", v.Major, v.Minor)
	if t, ok := bundledTablesOld[key]; ok {
		return t
	}
	if t, ok := bundledTablesNew[key]; ok {
		return t
	}
	if v.Compare(kongrelease.Version{Major: 2, Minor: 8}) < 0 {
		return bundledTablesOld["2.8"]
	}
	return bundledTablesNew["3.10"]
}
