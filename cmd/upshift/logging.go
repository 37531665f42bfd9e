package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
)

// logFlags are --log-format and --log-level, the same on every command
// that acts (apply, agent, sandbox, backup, restore).
type logFlags struct {
	format, level *string
}

func addLogFlags(fs *flag.FlagSet, defaultLevel string) *logFlags {
	return &logFlags{
		format: fs.String("log-format", "text", "text or json"),
		level:  fs.String("log-level", defaultLevel, "debug, info, warn or error"),
	}
}

// logger checks the flags (a usage error) and returns the logger writing
// to w. Writing to the process's stderr, it also becomes slog's default,
// so that what a package logs without a logger of its own has the same
// format and level (commands run in tests keep theirs to themselves).
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	if *l.format != "text" && *l.format != "json" {
		return nil, usageErrorf("--log-format must be text or json")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, usageErrorf("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if *l.format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	if w == io.Writer(os.Stderr) {
		slog.SetDefault(log)
	}
	return log, nil
}
