package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/schema"
)

// SARIF constants written into every log.
const (
	SARIFVersion   = "2.1.0"
	SARIFSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"
	InformationURI = "https://github.com/upshift-dev/upshift"
	rulesDocURI    = "https://github.com/upshift-dev/upshift/blob/main/schema/RULES.md"
)

// The subset of SARIF 2.1.0 Upshift writes (OASIS SARIF v2.1.0 §3).
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool       sarifTool     `json:"tool"`
		ColumnKind string        `json:"columnKind"`
		Results    []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string          `json:"id"`
		ShortDescription     sarifText       `json:"shortDescription"`
		FullDescription      sarifText       `json:"fullDescription"`
		Help                 sarifText       `json:"help"`
		HelpURI              string          `json:"helpUri,omitempty"`
		DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
		Properties           map[string]any  `json:"properties,omitempty"`
	}
	sarifRuleConfig struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations,omitempty"`
		// PartialFingerprints identify a result across commits (GitHub code
		// scanning matches alerts by them): see fingerprint.
		PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
		Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn"`
		EndLine     int `json:"endLine"`
		EndColumn   int `json:"endColumn"`
	}
	sarifSuppression struct {
		Kind          string `json:"kind"`
		Status        string `json:"status"`
		Justification string `json:"justification"`
	}
)

// sarifLevel maps an Upshift severity to SARIF's level.
func sarifLevel(s schema.Severity) string {
	switch s {
	case schema.SeverityWarning:
		return "warning"
	case schema.SeverityInfo:
		return "note"
	}
	return "error"
}

// parserRule describes ParserRuleID in tool.driver.rules.
var parserRule = &schema.Rule{
	ID:       ParserRuleID,
	Severity: schema.SeverityError,
	Summary:  "The file is not a valid plan file",
	Fix:      "Fix the HCL: syntax, attribute types, unknown or missing blocks and attributes, or a file that cannot be read. The message says which.",
}

// writeSARIF writes one SARIF 2.1.0 log with one run. tool.driver.rules
// lists every lint rule (schema.Rules) and ParserRuleID; results refer to
// them by ruleId and ruleIndex. Acknowledged findings are results of level
// "note" with an accepted in-source suppression. Columns are Unicode code
// points (run.columnKind), counted from the source when it is available;
// artifact URIs are relative (forward slashes) when the path is.
func writeSARIF(w io.Writer, diags hcl.Diagnostics, opts Options) error {
	rules := append([]*schema.Rule{parserRule}, schema.Rules()...)
	for _, d := range diags {
		if ruleID(d) == FormatRule.ID { // listed only when used (lint --check-format)
			rules = append(rules, FormatRule)
			break
		}
	}
	index := make(map[string]int, len(rules))
	driver := sarifDriver{
		Name:           "upshift",
		Version:        opts.ToolVersion,
		InformationURI: InformationURI,
		Rules:          make([]sarifRule, 0, len(rules)),
	}
	for i, r := range rules {
		index[r.ID] = i
		sr := sarifRule{
			ID:                   r.ID,
			ShortDescription:     sarifText{r.Summary},
			FullDescription:      sarifText{r.Fix},
			Help:                 sarifText{r.Fix},
			DefaultConfiguration: sarifRuleConfig{sarifLevel(r.Severity)},
			Properties:           map[string]any{"acknowledgeable": r.Acknowledgeable},
		}
		if r != parserRule {
			sr.HelpURI = rulesDocURI + "#" + strings.ToLower(r.ID)
		}
		driver.Rules = append(driver.Rules, sr)
	}
	run := sarifRun{
		Tool:       sarifTool{Driver: driver},
		ColumnKind: "unicodeCodePoints",
		Results:    make([]sarifResult, 0, len(diags)),
	}
	seen := map[string]int{} // fingerprints so far, for the occurrence suffix
	for _, d := range diags {
		id := ruleID(d)
		res := sarifResult{
			RuleID:    id,
			RuleIndex: index[id],
			Level:     sarifLevel(schema.SeverityOf(d)),
			Message:   sarifText{sarifMessage(d)},
		}
		if f := schema.FindingOf(d); f != nil && f.Acknowledged {
			res.Suppressions = []sarifSuppression{{
				Kind:          "inSource",
				Status:        "accepted",
				Justification: "acknowledged in the plan (acknowledge = [\"" + id + "\"])",
			}}
		}
		if rng := subject(d); rng != nil {
			uri := artifactURI(rng.Filename, opts.BaseDir)
			res.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: uri},
				Region:           sarifRegionOf(source(opts.Files, rng), rng),
			}}}
			fp := fingerprint(id, uri, lineAt(source(opts.Files, rng), rng.Start.Byte), d)
			seen[fp]++
			res.PartialFingerprints = map[string]string{
				"primaryLocationLineHash": fmt.Sprintf("%s:%d", fp, seen[fp]),
			}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: SARIFSchemaURI, Version: SARIFVersion, Runs: []sarifRun{run}})
}

// sarifMessage is the result's message, secrets masked.
func sarifMessage(d *hcl.Diagnostic) string {
	msg := d.Summary
	if detail := strings.TrimSpace(d.Detail); detail != "" {
		msg += ": " + detail
	}
	return schema.MaskSecrets(msg)
}

// fingerprint identifies a result whatever line it moves to: a hash of the
// rule, the file (as written in the log) and the content of the result's
// first line with its secrets masked and its indentation trimmed (so a
// secret never reaches the hash). Without the source (an unreadable file)
// the message stands in for the line. Writers add ":N", the occurrence of
// the same hash in the log, as GitHub's own primaryLocationLineHash does.
func fingerprint(rule, uri string, line []byte, d *hcl.Diagnostic) string {
	content := strings.TrimSpace(schema.MaskSecrets(string(line)))
	if line == nil {
		content = sarifMessage(d)
	}
	h := sha256.Sum256([]byte(rule + "\x00" + uri + "\x00" + content))
	return hex.EncodeToString(h[:8])
}

// lineAt returns the line of src holding byte offset off (without its
// newline), or nil without source.
func lineAt(src []byte, off int) []byte {
	if src == nil || off < 0 || off > len(src) {
		return nil
	}
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := bytes.IndexByte(src[start:], '\n')
	if end < 0 {
		return src[start:]
	}
	return bytes.TrimRight(src[start:start+end], "\r")
}

// artifactURI is filename as a URI reference: relative with forward slashes
// when it is (or can be made) relative, else a file: URI.
func artifactURI(filename, base string) string {
	p := relPath(filename, base)
	if filepath.IsAbs(filename) && strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

// sarifRegionOf converts rng to a SARIF region. With the source, columns are
// code points counted from the line start; without, hcl's columns.
func sarifRegionOf(src []byte, rng *hcl.Range) *sarifRegion {
	r := &sarifRegion{
		StartLine: max(rng.Start.Line, 1), StartColumn: max(rng.Start.Column, 1),
		EndLine: max(rng.End.Line, 1), EndColumn: max(rng.End.Column, 1),
	}
	if src != nil {
		r.StartColumn = codePointColumn(src, rng.Start.Byte, r.StartColumn)
		r.EndColumn = codePointColumn(src, rng.End.Byte, r.EndColumn)
	}
	if r.EndLine < r.StartLine || (r.EndLine == r.StartLine && r.EndColumn < r.StartColumn) {
		r.EndLine, r.EndColumn = r.StartLine, r.StartColumn
	}
	return r
}

// codePointColumn is the 1-based code-point column of byte offset off in
// src, or fallback when off is outside src.
func codePointColumn(src []byte, off, fallback int) int {
	if off < 0 || off > len(src) {
		return fallback
	}
	lineStart := bytes.LastIndexByte(src[:off], '\n') + 1
	return utf8.RuneCount(src[lineStart:off]) + 1
}
