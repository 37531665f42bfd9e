package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInstallDocCommands runs every ```sh block of docs/install.md, in
// order, from the repository root with DIST a temporary directory; each
// must succeed. Blocks fenced without a language need root, systemd, a
// container engine or Kubernetes, which these machines do not have (the
// page says so). The last line a block prints is logged.
func TestInstallDocCommands(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(raw), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/install.md has no sh block")
	}
	env := append(os.Environ(), "DIST="+t.TempDir())
	for _, b := range blocks {
		cmd := exec.Command("sh", "-e", "-c", b[1])
		cmd.Dir, cmd.Env = repoRoot, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", b[1], err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("%s→ %s", b[1], lines[len(lines)-1])
		if !strings.Contains(string(out), "upshift v0.1.0\ncommit ") {
			t.Errorf("the block did not print the stamped version:\n%s", out)
		}
	}
}
