// Package schema is the plan language's meaning: the lint rules that judge
// a parsed plan.Set, each with a stable ID (UP001...), a severity, a fix,
// and whether a plan may acknowledge it; and RULES.md, generated from the
// rule table.
//
// It does: every semantic check on plans (versions and Kong's upgrade
// paths, strategy/mode fit, per-strategy requirements, hybrid rules,
// secrets, env() shape, durations, rollout weights, plan ordering across
// files). Each finding is an hcl.Diagnostic whose Extra is a *Finding, so
// one diagnostics list flows from parser to CLI (style.md #3).
//
// It does not: parse files (package plan does, and reports syntax and
// structure errors itself), render diagnostics (schema/render), or read
// anything but the environment under Options.StrictEnv. Kong facts
// (versions, paths, hybrid acceptance) come from kongrelease.
//
// Start reading at Lint (lint.go), then the rule table (rules.go); the
// checks are grouped by subject in check_*.go.
package schema

//go:generate go run ./internal/genrules -o RULES.md
