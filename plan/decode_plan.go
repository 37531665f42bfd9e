package plan

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// decodeFile decodes every upgrade block of a parsed file. A plan whose
// block has errors is still returned (with what could be decoded) so that
// lint can add its own findings; callers stop on diags.HasErrors().
func decodeFile(f *hcl.File, path string) ([]*Plan, hcl.Diagnostics) {
	d := newDecoder(path)
	content, diags := f.Body.Content(fileSchema)
	d.add(diags...)
	var plans []*Plan
	for _, b := range content.Blocks {
		if p := d.decodePlan(b, path); p != nil {
			plans = append(plans, p)
		}
	}
	return plans, d.diags
}

// singleBlock returns the only block of type typ in blocks, reporting any
// repeat as a duplicate.
func (d *decoder) singleBlock(blocks hcl.Blocks, typ string) *hcl.Block {
	var first *hcl.Block
	for _, b := range blocks.OfType(typ) {
		if first == nil {
			first = b
			continue
		}
		d.errorf(b.DefRange, "Duplicate "+typ+" block", "Only one %s block is allowed here; the first is at %s.", typ, first.DefRange)
	}
	return first
}

// decodePlan decodes one `upgrade "NAME"` block.
func (d *decoder) decodePlan(b *hcl.Block, path string) *Plan {
	p := &Plan{Name: b.Labels[0], DeclRange: b.DefRange, NameRange: b.LabelRanges[0], File: path}
	before := len(d.diags)
	defer func() { p.Incomplete = d.diags[before:].HasErrors() }()
	content, diags := b.Body.Content(upgradeSchema)
	d.add(diags...)
	at := content.Attributes

	p.Cluster = d.str(at["cluster"])
	p.DependsOn = d.strList(at["depends_on"])
	p.Strategy = d.str(at["strategy"])
	p.Mode = d.strDefault(at["mode"], DefaultMode)
	p.Acknowledge = d.strList(at["acknowledge"])
	p.Rehearse = d.boolean(at["rehearse"], false)
	p.MaxDowntime = d.str(at["max_downtime"])
	p.Approve = d.strList(at["approve"])
	p.ApproveInAdvance = d.strList(at["approve_in_advance"])
	if p.Run = d.integer(at["run"]); p.Run.Set && p.Run.Value < 1 {
		d.errorf(p.Run.Range, "Invalid run", "run numbers the plan's runs from 1 (the default); set it to 2, then 3, ... to upgrade again after a run completed or rolled back.")
	}

	from := d.singleBlock(content.Blocks, "from")
	to := d.singleBlock(content.Blocks, "to")
	if from == nil {
		d.errorf(b.DefRange, "Missing from block", "The plan %q needs a from block describing cluster X as it runs now: from { version = \"3.8.0\" ... }.", p.Name)
	} else {
		p.From = d.decodeSide(from)
	}
	if to == nil {
		d.errorf(b.DefRange, "Missing to block", "The plan %q needs a to block describing cluster Y, the target: to { version = \"3.9.1\" ... }.", p.Name)
	} else {
		p.To = d.decodeSide(to)
	}
	if cb := d.singleBlock(content.Blocks, "control_plane"); cb != nil {
		p.ControlPlane = d.decodeControlPlane(cb)
	}
	if fb := d.singleBlock(content.Blocks, "freeze"); fb != nil {
		p.Freeze = d.decodeFreeze(fb)
	}
	if bb := d.singleBlock(content.Blocks, "backup"); bb != nil {
		p.Backup = d.decodeBackup(bb)
	}
	if tb := d.singleBlock(content.Blocks, "traffic"); tb != nil {
		p.Traffic = d.decodeTraffic(tb)
	}
	checkNames := map[string]hcl.Range{}
	for _, cb := range content.Blocks.OfType("check") {
		if d.unique(checkNames, cb, "check") {
			p.Checks = append(p.Checks, d.decodeCheck(cb))
		}
	}
	analysisNames := map[string]hcl.Range{}
	for _, ab := range content.Blocks.OfType("analysis") {
		if d.unique(analysisNames, ab, "analysis") {
			p.Analyses = append(p.Analyses, d.decodeAnalysis(ab))
		}
	}
	if rb := d.singleBlock(content.Blocks, "rollout"); rb != nil {
		p.Rollout = d.decodeRollout(rb)
	}
	notifyNames := map[string]hcl.Range{}
	for _, nb := range content.Blocks.OfType("notify") {
		if d.unique(notifyNames, nb, "notify") {
			if n := d.decodeNotify(nb); n != nil {
				p.Notify = append(p.Notify, n)
			}
		}
	}
	p.Rollback = &Rollback{OnGateFailure: Bool{Value: true}}
	if rb := d.singleBlock(content.Blocks, "rollback"); rb != nil {
		p.Rollback = d.decodeRollback(rb)
	}
	return p
}

// unique records a labelled block's name, reporting a repeat.
func (d *decoder) unique(seen map[string]hcl.Range, b *hcl.Block, typ string) bool {
	name := b.Labels[0]
	if first, dup := seen[name]; dup {
		d.errorf(b.LabelRanges[0], fmt.Sprintf("Duplicate %s %q", typ, name), "Each %s block in a plan needs its own name; %q is already used at %s.", typ, name, first)
		return false
	}
	seen[name] = b.LabelRanges[0]
	return true
}

func (d *decoder) decodeRollback(b *hcl.Block) *Rollback {
	content, diags := b.Body.Content(rollbackSchema)
	d.add(diags...)
	at := content.Attributes
	return &Rollback{
		DeclRange:     b.DefRange,
		Requested:     d.boolean(at["requested"], false),
		OnGateFailure: d.boolean(at["on_gate_failure"], true),
		Restore:       d.boolean(at["restore"], false),
	}
}

func (d *decoder) decodeFreeze(b *hcl.Block) *Freeze {
	content, diags := b.Body.Content(freezeSchema)
	d.add(diags...)
	return &Freeze{DeclRange: b.DefRange, Start: d.argv(content.Attributes["start"]), End: d.argv(content.Attributes["end"])}
}

func (d *decoder) decodeBackup(b *hcl.Block) *Backup {
	content, diags := b.Body.Content(backupSchema)
	d.add(diags...)
	at := content.Attributes
	return &Backup{
		DeclRange: b.DefRange,
		Dir:       d.str(at["dir"]),
		Keep:      d.integer(at["keep"]),
		Verify:    d.boolean(at["verify"], false),
		VerifyDSN: d.value(at["verify_dsn"]),
	}
}
