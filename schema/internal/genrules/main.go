// Command genrules writes schema/RULES.md from schema.Rules(); run it with
// `go generate ./schema`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/upshift-dev/upshift/schema"
)

func main() {
	out := flag.String("o", "RULES.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, schema.RulesMarkdown(), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "genrules: write %s: %v\n", *out, err)
		os.Exit(1)
	}
}
