package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// README's Commands block names every flag that lint, fmt and sandbox
// document in their help (it missed sandbox's --strategy rolling, --gitops
// and --dir).
func TestReadmeCommandsListFlags(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "## Commands\n```\n")
	if !ok {
		t.Fatal("README has no Commands block")
	}
	block, _, _ = strings.Cut(block, "```")
	lines := map[string]string{}
	for _, l := range strings.Split(block, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "upshift" {
			lines[f[1]] = l
		}
	}
	flagRE := regexp.MustCompile(`(?m)^\s+(--[a-z][a-z-]*)`)
	for _, c := range []*command{lintCommand, fmtCommand, sandboxCommand} {
		line, ok := lines[c.Name]
		if !ok {
			t.Errorf("README's Commands block has no upshift %s line", c.Name)
			continue
		}
		for _, m := range flagRE.FindAllStringSubmatch(c.Usage, -1) {
			if !regexp.MustCompile(regexp.QuoteMeta(m[1]) + `\b`).MatchString(line) {
				t.Errorf("README: upshift %s line lacks %s:\n%s", c.Name, m[1], line)
			}
		}
	}
	if !strings.Contains(lines["sandbox"], "rolling") {
		t.Errorf("README: upshift sandbox line lacks --strategy rolling:\n%s", lines["sandbox"])
	}
}
