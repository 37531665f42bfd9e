package main

import (
	"runtime/debug"
	"testing"
)

// upshift version: link-time variables win; otherwise the build info's
// module version and VCS revision (dirty marked); "(devel)" and no commit
// without either.
func TestVersionFrom(t *testing.T) {
	checkout := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/upshift-dev/upshift", Version: "v0.0.0-20261206002203-15a3a32abcde+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "15a3a32abcde0000000000000000000000000000"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, c := range []struct {
		name             string
		bi               *debug.BuildInfo
		ldVer, ldCommit  string
		wantVer, wantRev string
	}{
		{"no build info", nil, "", "", "(devel)", ""},
		{"work tree without vcs", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "", "(devel)", ""},
		{"git checkout", checkout, "", "", "v0.0.0-20261206002203-15a3a32abcde+dirty", "15a3a32abcde0000000000000000000000000000-dirty"},
		{"release ldflags", checkout, "v0.1.0", "0123456789abcdef0123456789abcdef01234567", "v0.1.0", "0123456789abcdef0123456789abcdef01234567"},
		{"go install @tag", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, "", "", "v0.2.0", ""},
	} {
		got := versionFrom(c.bi, c.ldVer, c.ldCommit)
		if got.Module != c.wantVer || got.Revision != c.wantRev || got.Go == "" {
			t.Errorf("%s: %+v, want version %q commit %q", c.name, got, c.wantVer, c.wantRev)
		}
	}
}
