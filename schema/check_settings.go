package schema

import (
	"path/filepath"

	"github.com/upshift-dev/upshift/plan"
)

// checkSettings applies the settings file's rules (UP041, UP042; env()
// shape UP026 and, with StrictEnv, UP027): the declared journal must be one
// that every entry point on every checkout opens as the same store.
func (l *linter) checkSettings(s *plan.Settings) {
	if s == nil || s.Journal == nil {
		return
	}
	j := s.Journal
	if j.Dir.Set && !filepath.IsAbs(j.Dir.Value) {
		l.reportf(ruleJournalRelative, j.Dir.Range, "journal.dir %q is relative: every checkout of the repository would resolve it to its own directory.", j.Dir.Value)
	}
	v := j.Postgres
	switch {
	case !v.Given():
	case !v.IsEnv:
		l.reportf(ruleJournalLiteral, v.Range, "journal.postgres is written in the file.")
	case !v.EnvOK:
		l.reportf(ruleEnvShape, v.EnvArgRange, "journal.postgres: env() takes one string literal, the variable's name.")
	case !envNameRE.MatchString(v.EnvName):
		l.reportf(ruleEnvShape, v.EnvArgRange, "journal.postgres: %q is not a variable name.", v.EnvName)
	case l.opts.StrictEnv:
		if _, ok := l.opts.LookupEnv(v.EnvName); !ok {
			l.reportf(ruleEnvUnset, v.Range, "journal.postgres: %s is not set.", v.EnvName)
		}
	}
}
