package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommandsListFlags: README's Commands block has a line for
// every command, and names every flag the command defines (each
// command's FlagSet, seen through flagSetMade while it parses -h), and
// each command's help documents it too. It missed sandbox's --strategy
// rolling, --gitops and --dir, then apply's and agent's logging and agent's
// authentication flags. A command's entry may go on over indented lines.
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
	last := ""
	for _, l := range strings.Split(block, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "upshift" {
			last = f[1]
			lines[last] = l
		} else if last != "" && strings.HasPrefix(l, " ") {
			lines[last] += "\n" + l
		}
	}
	for _, c := range commands() {
		line, ok := lines[c.Name]
		if !ok {
			t.Errorf("README's Commands block has no upshift %s line", c.Name)
			continue
		}
		var sets []*flag.FlagSet
		flagSetMade = func(fs *flag.FlagSet) { sets = append(sets, fs) }
		code := c.Run(context.Background(), []string{"-h"}, &streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
		flagSetMade = nil
		if code != exitOK || len(sets) == 0 {
			t.Errorf("upshift %s -h: exit %d, %d flag sets", c.Name, code, len(sets))
		}
		var flags []string
		for _, fs := range sets {
			fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
		}
		for _, f := range flags {
			has := regexp.MustCompile(regexp.QuoteMeta(f) + `\b`)
			if !has.MatchString(line) {
				t.Errorf("README: upshift %s lacks %s:\n%s", c.Name, f, line)
			}
			if !has.MatchString(c.Usage) {
				t.Errorf("upshift help %s does not document %s", c.Name, f)
			}
		}
	}
	if !strings.Contains(lines["sandbox"], "rolling") {
		t.Errorf("README: upshift sandbox line lacks --strategy rolling:\n%s", lines["sandbox"])
	}
}
