// Package plan reads Upshift plan files (*.upshift.hcl) into typed Plans that
// keep their source ranges.
//
// It does: HCL parsing (hclparse), decoding each block with one schema and
// one decode function per block type (decode_*.go), the plan functions
// env("NAME") (kept unevaluated as a Value, resolved by the engine at apply
// time with Value.Resolve) and file("path") (read at load, relative to the
// plan file), and the structural errors HCL itself reports: syntax errors,
// wrong types, missing required attributes, unknown blocks and attributes
// with a "did you mean" hint, duplicate blocks.
//
// It does not: judge whether a plan makes sense (versions, strategies,
// paths, durations, secrets, plan ordering): that is package schema, which
// adds rule-ID'd diagnostics on top of what LoadPaths returns. Nothing here
// talks to Kong or reads the environment.
//
// Start reading at Parser.LoadPaths (parser.go), then Plan (plan.go) and
// decodePlan (decode_plan.go).
package plan
