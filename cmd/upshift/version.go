package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionUsage = `Usage: upshift version

Prints the version of this binary, the commit it was built from and the Go
version:

  upshift v0.1.0
  commit 0123456789abcdef0123456789abcdef01234567
  go1.26.0 linux/amd64

A release build sets both with -ldflags "-X main.version=v0.1.0 -X
main.commit=SHA". Otherwise they come from the build information: the
module version (a tag or pseudo-version for 'go install ...@VERSION';
"(devel)" for a build from a work tree) and, for a build from a git
checkout, the VCS revision ("-dirty" with uncommitted changes). "commit
unknown" means the build carried neither (go build -buildvcs=false, or a
source tree without .git).
`

var versionCommand = &command{
	Name:     "version",
	Synopsis: "Print the upshift version and the Go version it was built with",
	Usage:    versionUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("version")
		pos, err := parseFlags(fs, args)
		if err == nil && len(pos) > 0 {
			err = usageErrorf("takes no arguments")
		}
		if err != nil {
			return handleParseError("version", versionUsage, err, s)
		}
		v := buildVersion()
		fmt.Fprintf(s.Out, "upshift %s\n", v.Module)
		commit := v.Revision
		if commit == "" {
			commit = "unknown"
		}
		fmt.Fprintf(s.Out, "commit %s\n", commit)
		fmt.Fprintf(s.Out, "%s %s/%s\n", v.Go, runtime.GOOS, runtime.GOARCH)
		return exitOK
	},
}

// Set at link time for releases: go build -ldflags "-X main.version=v0.1.0
// -X main.commit=SHA". Empty in other builds.
var (
	version string
	commit  string
)

// versionInfo is what the binary knows about its own build.
type versionInfo struct {
	Module   string // version: -X main.version, else the module version, or "(devel)"
	Revision string // commit: -X main.commit, else the VCS revision (+"-dirty"), or ""
	Go       string
}

func buildVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(bi, version, commit)
}

// versionFrom combines the link-time variables (which win) with the build
// information (nil when there is none).
func versionFrom(bi *debug.BuildInfo, ldVersion, ldCommit string) versionInfo {
	v := versionInfo{Module: "(devel)", Go: runtime.Version()}
	if bi != nil {
		if bi.Main.Version != "" {
			v.Module = bi.Main.Version
		}
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if v.Revision != "" && dirty {
			v.Revision += "-dirty"
		}
	}
	if ldVersion != "" {
		v.Module = ldVersion
	}
	if ldCommit != "" {
		v.Revision = ldCommit
	}
	return v
}
