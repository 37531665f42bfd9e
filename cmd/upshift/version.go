package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionUsage = `Usage: upshift version

Prints the module version of this binary (as set by 'go install
github.com/upshift-dev/upshift/cmd/upshift@VERSION'; "(devel)" for a build
from a work tree), its VCS revision when known, and the Go version.
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
		if v.Revision != "" {
			fmt.Fprintf(s.Out, "revision %s\n", v.Revision)
		}
		fmt.Fprintf(s.Out, "%s %s/%s\n", v.Go, runtime.GOOS, runtime.GOARCH)
		return exitOK
	},
}

// versionInfo is what the binary knows about its own build.
type versionInfo struct {
	Module   string // module version, or "(devel)"
	Revision string // VCS revision (+"-dirty"), when stamped
	Go       string
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
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
	return v
}
