package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/plan"
)

// Where a command's journal is (docs/runs.md): the flags when given, else
// the journal the plans repository declares in upshift.hcl, else a
// per-user state directory outside any checkout. apply, plan and unlock
// resolve it the same way, so that with default flags they meet in one
// store, and the agent uses the declared journal too.

// journalSpec is a resolved journal: a directory, or the environment
// variable holding a PostgreSQL DSN; From says where the choice came from.
type journalSpec struct {
	Dir, Env string
	From     string
}

func (j journalSpec) String() string {
	if j.Env != "" {
		return "postgres (DSN in $" + j.Env + ")"
	}
	return "dir " + j.Dir
}

func (j journalSpec) same(o journalSpec) bool {
	if j.Env != "" || o.Env != "" {
		return j.Env == o.Env
	}
	a, _ := filepath.Abs(j.Dir)
	b, _ := filepath.Abs(o.Dir)
	return a == b
}

// declaredJournal is the journal the settings file governing path declares.
func declaredJournal(path string) (journalSpec, bool, error) {
	s, diags := plan.LoadSettings(path)
	if diags.HasErrors() {
		return journalSpec{}, false, fmt.Errorf("%s: %s", plan.SettingsFile, diags.Error())
	}
	if s == nil {
		return journalSpec{}, false, nil
	}
	return settingsJournal(s, s.File)
}

// settingsJournal is the journal settings declare (from names the file).
func settingsJournal(s *plan.Settings, from string) (journalSpec, bool, error) {
	if s == nil || s.Journal == nil {
		return journalSpec{}, false, nil
	}
	j := s.Journal
	spec := journalSpec{From: from}
	switch {
	case j.Dir.Set && filepath.IsAbs(j.Dir.Value):
		spec.Dir = j.Dir.Value
	case j.Postgres.IsEnv && j.Postgres.EnvOK:
		spec.Env = j.Postgres.EnvName
	default:
		return journalSpec{}, false, fmt.Errorf("%s: the journal block is invalid (run 'upshift lint')", s.File)
	}
	return spec, true, nil
}

// defaultStateJournal is the journal when nothing is declared:
// $XDG_STATE_HOME/upshift/journal or ~/.local/state/upshift/journal, one
// per user and outside every checkout, so that two checkouts of the same
// plans (and plan files applied one at a time) meet in it.
func defaultStateJournal() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "upshift", "journal"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		// A relative $HOME would put the journal under the working
		// directory: inside the plans checkout when run from there.
		return "", fmt.Errorf("no journal declared in upshift.hcl, and no absolute home directory for the default one ($HOME=%q): pass --journal-dir DIR or --journal-env NAME", home)
	}
	return filepath.Join(home, ".local", "state", "upshift", "journal"), nil
}

// legacyJournalDir is where Upshift before docs/runs.md kept apply's
// journal: .upshift/journal in the plan's directory.
func legacyJournalDir(path string) string {
	d := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		d = filepath.Dir(path)
	}
	return filepath.Join(d, ".upshift", "journal")
}

// resolveJournal picks the journal of a command on the plan at path named
// planName, warning on w (as cmd) when flags override a declared journal.
func resolveJournal(path, planName, dir, envName string, w io.Writer, cmd string) (journalSpec, error) {
	declared, ok, err := declaredJournal(path)
	if err != nil {
		return journalSpec{}, err
	}
	if dir != "" || envName != "" {
		spec := journalSpec{Dir: dir, Env: envName, From: "flags"}
		if ok && !spec.same(declared) {
			fmt.Fprintf(w, "upshift %s: warning: journal %s differs from the one %s declares (%s): runs in one are neither seen nor locked by the other\n",
				cmd, spec, declared.From, declared)
		}
		return spec, nil
	}
	if !ok {
		d, err := defaultStateJournal()
		if err != nil {
			return journalSpec{}, err
		}
		declared = journalSpec{Dir: d, From: "default"}
	}
	// A journal left by an earlier version next to the plan would be
	// silently forgotten: its run may be half done.
	if old := legacyJournalDir(path); planName != "" {
		if _, err := os.Stat(filepath.Join(old, planName)); err == nil && !declared.same(journalSpec{Dir: old}) {
			return journalSpec{}, fmt.Errorf("plan %q has a journal in %s (where earlier versions kept it), but the journal is now %s: continue it with --journal-dir %s, or declare it in %s (docs/runs.md)",
				planName, old, declared, old, plan.SettingsFile)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return journalSpec{}, fmt.Errorf("look for an earlier journal: %w", err)
		}
	}
	return declared, nil
}

// journalForPlan opens the journal of a command on the plan at path.
// create=false (plan, unlock) returns a nil store when the journal is a
// directory that does not exist, so that reading creates nothing.
func journalForPlan(ctx context.Context, path, planName, dir, envName string, create bool, w io.Writer, cmd string) (engine.Store, error) {
	spec, err := resolveJournal(path, planName, dir, envName, w, cmd)
	if err != nil {
		return nil, err
	}
	if spec.Dir != "" && !create {
		if _, err := os.Stat(spec.Dir); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("journal directory %s: %w", spec.Dir, err)
			}
			// No directory, no run: the same as an empty journal,
			// which apply creates.
			if spec.From == "flags" {
				fmt.Fprintf(w, "upshift %s: journal directory %s does not exist yet: no run is recorded there (apply creates it)\n", cmd, spec.Dir)
			}
			return nil, nil
		}
	}
	return openJournal(ctx, spec.Dir, spec.Env)
}
