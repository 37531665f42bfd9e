package schema

import "github.com/hashicorp/hcl/v2"

// Severity of a lint finding. hcl.Diagnostic has only errors and warnings;
// Upshift adds Info for findings that change nothing (for example a plan
// whose to.version equals from.version: "stay on / roll back to X") and
// for acknowledged findings. An Info finding's hcl severity is DiagWarning:
// count and render with SeverityOf, never with d.Severity.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
	SeverityInfo
)

func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityInfo:
		return "info"
	}
	return "error"
}

// Rule is one lint rule: a stable ID (UP001...), a one-line summary, how to
// fix it, its severity, and whether a plan may accept it on purpose with
// `acknowledge = ["UPxxx"]` (safety rules never).
type Rule struct {
	ID              string
	Summary         string
	Fix             string
	Severity        Severity
	Acknowledgeable bool
}

// Finding is what a lint rule attaches to hcl.Diagnostic.Extra, so that the
// one diagnostics list from parser to CLI carries rule IDs and the Info
// severity. Parse errors from hcl itself have no Finding.
type Finding struct {
	Rule     *Rule
	Severity Severity
	// Plan is the name of the plan the finding is about ("" for findings
	// about the set, such as duplicate names, reported at the later plan).
	Plan string
	// Acknowledged is true when the plan acknowledges Rule: Severity is
	// then SeverityInfo whatever the rule's own severity.
	Acknowledged bool
}

// FindingOf returns the Finding attached to d, or nil (hcl's own
// diagnostics, such as syntax errors).
func FindingOf(d *hcl.Diagnostic) *Finding {
	if d == nil {
		return nil
	}
	f, _ := d.Extra.(*Finding)
	return f
}

// RuleID returns d's rule ID, or "" when d came from the HCL parser.
func RuleID(d *hcl.Diagnostic) string {
	if f := FindingOf(d); f != nil && f.Rule != nil {
		return f.Rule.ID
	}
	return ""
}

// SeverityOf returns d's Upshift severity: the Finding's when there is one,
// else hcl's (DiagError → error, DiagWarning → warning).
func SeverityOf(d *hcl.Diagnostic) Severity {
	if f := FindingOf(d); f != nil {
		return f.Severity
	}
	if d.Severity == hcl.DiagWarning {
		return SeverityWarning
	}
	return SeverityError
}
