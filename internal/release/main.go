// Command release builds Upshift's release binaries: upshift for linux and
// darwin on amd64 and arm64, static (CGO_ENABLED=0), stamped with the
// version and commit that `upshift version` prints, and a SHA256SUMS file
// in sha256sum's format. The tag-driven workflow
// (.github/workflows/release.yml) runs it; so can anyone:
//
//	go run ./internal/release -version v0.1.0 -out dist
//
// The build flags are the Dockerfile's: a release binary and the image's
// are built the same way.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Targets are the platforms a release ships.
var Targets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

// Options is one release build.
type Options struct {
	Version string   // vMAJOR.MINOR.PATCH[-pre]
	Commit  string   // full SHA; default git rev-parse HEAD
	Out     string   // output directory
	Targets []string // default Targets
	Dir     string   // the module's root; default "."
	Log     io.Writer
}

var versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// Build builds every target into o.Out as upshift-VERSION-OS-ARCH and
// writes SHA256SUMS; it returns the binaries' names.
func Build(o Options) ([]string, error) {
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH[-PRERELEASE] (the tag)", o.Version)
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if len(o.Targets) == 0 {
		o.Targets = Targets
	}
	if o.Commit == "" {
		out, err := exec.Command("git", "-C", o.Dir, "rev-parse", "HEAD").Output()
		if err != nil {
			return nil, fmt.Errorf("the commit (git rev-parse HEAD): %w", err)
		}
		o.Commit = strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var names []string
	var sums strings.Builder
	for _, target := range o.Targets {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok {
			return nil, fmt.Errorf("target %q: want OS/ARCH", target)
		}
		name := fmt.Sprintf("upshift-%s-%s-%s", o.Version, goos, goarch)
		out, err := filepath.Abs(filepath.Join(o.Out, name))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", o.Version, o.Commit),
			"-o", out, "./cmd/upshift")
		cmd.Dir = o.Dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		fmt.Fprintf(o.Log, "release: building %s\n", name)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", target, err, b)
		}
		sum, err := fileSHA256(out)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, name)
		names = append(names, name)
	}
	if err := os.WriteFile(filepath.Join(o.Out, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	return names, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func main() {
	var o Options
	var targets string
	flag.StringVar(&o.Version, "version", "", "release version, the tag (v0.1.0)")
	flag.StringVar(&o.Commit, "commit", "", "commit SHA (default: git rev-parse HEAD)")
	flag.StringVar(&o.Out, "out", "dist", "output directory")
	flag.StringVar(&targets, "targets", strings.Join(Targets, ","), "comma-separated OS/ARCH list")
	flag.Parse()
	if targets != "" {
		o.Targets = strings.Split(targets, ",")
	}
	o.Log = os.Stderr
	names, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, n := range names {
		fmt.Println(filepath.Join(o.Out, n))
	}
	fmt.Println(filepath.Join(o.Out, "SHA256SUMS"))
}
