package migrations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Log levels of Kong's CLI logger (K: kong/cmd/utils/log.lua).
const (
	lvlDebug   = 1
	lvlVerbose = 2
	lvlInfo    = 3
	lvlWarn    = 4
	lvlError   = 5
	lvlQuiet   = 6
)

var lvlNames = map[int]string{lvlDebug: "debug", lvlVerbose: "verbose", lvlInfo: "info", lvlWarn: "warn", lvlError: "error"}

// logger writes as Kong's CLI logger does: below warn to stdout, warn and
// error to stderr; lines get a "YYYY/MM/DD HH:MM:SS [level] " prefix when
// they are warn or above, or when the level is verbose or debug.
type logger struct {
	stdout, stderr io.Writer
	level          int
	now            func() time.Time
}

func (l *logger) log(lvl int, format string, args ...any) {
	if lvl < l.level {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if l.level < lvlInfo || lvl >= lvlWarn {
		msg = l.now().Format("2006/01/02 15:04:05") + " [" + lvlNames[lvl] + "] " + msg
	}
	w := l.stdout
	if lvl >= lvlWarn {
		w = l.stderr
	}
	_, _ = io.WriteString(w, msg+"\n")
}

func (l *logger) info(format string, args ...any)  { l.log(lvlInfo, format, args...) }
func (l *logger) debug(format string, args ...any) { l.log(lvlDebug, format, args...) }

// formatList renders a classified list as Kong's Migrations_mt __tostring
// does (K: kong/db/migrations/state.lua): one line per subsystem,
// "%<maxlen>s: %s", the subsystem right-aligned to the longest name in this
// list, the names joined with ", ".
func formatList(c kongrelease.Classification) string {
	width := 0
	for _, s := range c {
		width = max(width, len(s.Name))
	}
	lines := make([]string, 0, len(c))
	for _, s := range c {
		names := make([]string, 0, len(s.Migrations))
		for _, m := range s.Migrations {
			names = append(names, m.Name)
		}
		lines = append(lines, fmt.Sprintf("%*s: %s", width, s.Name, strings.Join(names, ", ")))
	}
	return strings.Join(lines, "\n")
}

// statusJSON renders `kong migrations status`: cjson.encode of the schema
// state with each migration replaced by its name. Kong leaves out the lists
// that are empty (nil in Lua). cjson's key order is its hash order; this
// writes needs_bootstrap, then executed, pending, new and missing. (Kong
// does not reduce missing_migrations to names, so a real Kong fails to
// encode them; the emulator writes names.)
func statusJSON(st State) ([]byte, error) {
	type sub struct {
		Subsystem  string   `json:"subsystem"`
		Namespace  string   `json:"namespace"`
		Migrations []string `json:"migrations"`
	}
	list := func(s kongrelease.MigrationState) []sub {
		var out []sub
		for _, cs := range st.Classification.Filter(s) {
			e := sub{Subsystem: cs.Name, Namespace: cs.Namespace}
			for _, m := range cs.Migrations {
				e.Migrations = append(e.Migrations, m.Name)
			}
			out = append(out, e)
		}
		return out
	}
	var b bytes.Buffer
	b.WriteString(`{"needs_bootstrap":`)
	if st.NeedsBootstrap {
		b.WriteString("true")
	} else {
		b.WriteString("false")
	}
	for _, k := range []struct {
		key string
		st  kongrelease.MigrationState
	}{
		{"executed_migrations", kongrelease.StateExecuted},
		{"pending_migrations", kongrelease.StatePending},
		{"new_migrations", kongrelease.StateNew},
		{"missing_migrations", kongrelease.StateMissing},
	} {
		l := list(k.st)
		if len(l) == 0 {
			continue
		}
		j, err := json.Marshal(l)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", k.key, err)
		}
		b.WriteString(`,"` + k.key + `":`)
		b.Write(j)
	}
	b.WriteString("}")
	return b.Bytes(), nil
}
