// Package render writes one hcl.Diagnostics list (parser diagnostics plus
// schema.Lint findings) in the four output formats of `upshift lint`:
//
//   - text: Terraform-like, for people ("Error: Summary [UP012]", the
//     position and enclosing block, the numbered source line(s) with the
//     subject underlined, then the detail);
//   - json: the shape of `terraform validate -json` (lower-case keys) plus
//     "rule" and "info_count";
//   - github: GitHub Actions workflow commands (::error / ::warning /
//     ::notice) that become pull-request annotations;
//   - sarif: SARIF 2.1.0 for code-scanning uploads.
//
// Severities come from schema.SeverityOf, never from hcl.Diagnostic.Severity
// (hcl has no "info"). Diagnostics from the parser (syntax, types, unknown or
// missing blocks and attributes, unreadable files) carry no lint rule; they
// are reported under the rule ID "HCL" (ParserRuleID) in json, github and
// sarif, and without an ID in text.
//
// It does not: parse, lint, decide exit codes or count what fails (the CLI
// does), or detect terminals (the caller passes Options.Color).
//
// Start reading at Write (render.go); each format has its own file.
package render
