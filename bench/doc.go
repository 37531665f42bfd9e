// Command bench measures `upshift fmt --check`, `upshift lint` and the
// one-process PR check `upshift lint --check-format` over 1,000 generated
// plans against the tools a reviewer would compare them with:
//
//   - hclfmt (github.com/hashicorp/hcl/v2/cmd/hclfmt, the same HCL engine),
//     run as `hclfmt -check -require-no-change FILE...` (its closest
//     equivalent of a check: parse, format, fail if anything would change);
//   - `terraform fmt -check -recursive` over the same 1,000 plans saved as
//     .tf files, when terraform is on PATH (skipped with a message if not).
//
// Run it from the repository root with one command:
//
//	go run ./bench               # 1,000 plans, 7 runs of each, medians
//	go run ./bench -plans 200 -runs 3 -keep
//
// It builds upshift (./cmd/upshift) and hclfmt (from the module cache) into
// a temporary directory, generates the plans there (four strategies,
// varied versions, nodes, checks and rollout steps; every tenth file left
// unformatted), runs each tool as a separate process several times in
// interleaved order after one warm-up, and prints the median wall time of
// each (wall time and user+system CPU time, the fairer figure when the
// machine is busy) and the ratios. Each tool's exit status and the number of files it
// reports as unformatted are checked, so that a tool that did nothing
// cannot look fast.
//
// It does not assert timings (nothing here runs under go test except the
// generator's own test, which checks that the plans are valid).
//
// Start reading at main (main.go); the plan generator is gen.go.
package main
