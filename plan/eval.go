package plan

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// decoder holds what decoding one file needs: the evaluation context with
// the plan functions, and the diagnostics collected so far.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func newDecoder(filename string) *decoder {
	dir := filepath.Dir(filename)
	return &decoder{ctx: &hcl.EvalContext{Functions: map[string]function.Function{
		"file": fileFunc(dir),
		"env":  nestedEnvFunc,
	}}}
}

func (d *decoder) add(diags ...*hcl.Diagnostic) { d.diags = append(d.diags, diags...) }

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r})
}

// fileFunc is file("path"): the file's contents as a string, the path taken
// relative to the plan file's directory. Bounded by MaxFileSize.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			info, err := os.Stat(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("read %s: %w", p, err)
			}
			if !info.Mode().IsRegular() {
				return cty.NilVal, fmt.Errorf("read %s: not a regular file", p)
			}
			if info.Size() > MaxFileSize {
				return cty.NilVal, fmt.Errorf("read %s: file is larger than %d MiB", p, MaxFileSize>>20)
			}
			b, err := readBounded(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("read %s: %w", p, err)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("read %s: not UTF-8 text", p)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// nestedEnvFunc is env() met anywhere but as an attribute's whole value,
// where decodeValue handles it without evaluating. The value is only known
// at apply time, so it cannot take part in a larger expression.
var nestedEnvFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.NilVal, fmt.Errorf("env() must be the whole value of an attribute that accepts it (URLs, tokens, DSNs), not part of a larger expression")
	},
})

// eval evaluates expr to a known, non-null value of type ty.
func (d *decoder) eval(expr hcl.Expression, ty cty.Type, what string) (cty.Value, bool) {
	v, diags := expr.Value(d.ctx)
	d.add(diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errorf(expr.Range(), "Missing value", "%s must not be null.", what)
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(expr.Range(), "Incorrect attribute value type", "%s: %s is required, got %s.", what, ty.FriendlyName(), v.Type().FriendlyName())
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		d.errorf(expr.Range(), "Unknown value", "%s must be known when the plan is read.", what)
		return cty.NilVal, false
	}
	return cv, true
}

func attrName(a *hcl.Attribute) string { return fmt.Sprintf("The argument %q", a.Name) }

// str decodes a literal string (env() is not accepted: the value must be
// known to lint).
func (d *decoder) str(a *hcl.Attribute) String {
	if a == nil {
		return String{}
	}
	if isEnvCall(a.Expr) != nil {
		d.errorf(a.Expr.Range(), "env() not allowed here", "The argument %q must be written in the plan: lint and the engine decide from it before apply time. Write the value itself.", a.Name)
		return String{Range: a.Expr.Range()}
	}
	v, ok := d.eval(a.Expr, cty.String, attrName(a))
	if !ok {
		return String{Range: a.Expr.Range()}
	}
	return String{Value: v.AsString(), Range: a.Expr.Range(), Set: true}
}

func (d *decoder) strDefault(a *hcl.Attribute, def string) String {
	if a == nil {
		return String{Value: def}
	}
	return d.str(a)
}

// value decodes a string that may be env("NAME").
func (d *decoder) value(a *hcl.Attribute) Value {
	if a == nil {
		return Value{}
	}
	if call := isEnvCall(a.Expr); call != nil {
		v := Value{IsEnv: true, Range: a.Expr.Range(), EnvArgRange: call.Range(), Set: true}
		if len(call.Args) != 1 {
			d.errorf(call.Range(), "Invalid env() call", "env() takes exactly one argument, the variable's name as a string literal: env(\"KONG_ADMIN_TOKEN\").")
			return v
		}
		arg := call.Args[0]
		v.EnvArgRange = arg.Range()
		if len(arg.Variables()) == 0 {
			if av, diags := arg.Value(nil); !diags.HasErrors() && av.Type() == cty.String && av.IsKnown() && !av.IsNull() {
				v.EnvName, v.EnvOK = av.AsString(), true
			}
		}
		return v
	}
	v, ok := d.eval(a.Expr, cty.String, attrName(a))
	if !ok {
		return Value{Range: a.Expr.Range()}
	}
	return Value{Literal: v.AsString(), Range: a.Expr.Range(), Set: true}
}

// isEnvCall returns the env(...) call when expr is exactly one, possibly
// wrapped in "${...}".
func isEnvCall(expr hcl.Expression) *hclsyntax.FunctionCallExpr {
	if w, ok := expr.(*hclsyntax.TemplateWrapExpr); ok {
		expr = w.Wrapped
	}
	if c, ok := expr.(*hclsyntax.FunctionCallExpr); ok && c.Name == "env" {
		return c
	}
	return nil
}

func (d *decoder) integer(a *hcl.Attribute) Int {
	if a == nil {
		return Int{}
	}
	v, ok := d.eval(a.Expr, cty.Number, attrName(a))
	if !ok {
		return Int{Range: a.Expr.Range()}
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i > math.MaxInt32 || i < math.MinInt32 {
		d.errorf(a.Expr.Range(), "Invalid number", "The argument %q must be a whole number.", a.Name)
		return Int{Range: a.Expr.Range()}
	}
	return Int{Value: int(i), Range: a.Expr.Range(), Set: true}
}

func (d *decoder) float(a *hcl.Attribute) Float {
	if a == nil {
		return Float{}
	}
	v, ok := d.eval(a.Expr, cty.Number, attrName(a))
	if !ok {
		return Float{Range: a.Expr.Range()}
	}
	f, _ := v.AsBigFloat().Float64()
	if math.IsInf(f, 0) || math.IsNaN(f) {
		d.errorf(a.Expr.Range(), "Invalid number", "The argument %q is out of range.", a.Name)
		return Float{Range: a.Expr.Range()}
	}
	return Float{Value: f, Range: a.Expr.Range(), Set: true}
}

func (d *decoder) boolean(a *hcl.Attribute, def bool) Bool {
	if a == nil {
		return Bool{Value: def}
	}
	v, ok := d.eval(a.Expr, cty.Bool, attrName(a))
	if !ok {
		return Bool{Value: def, Range: a.Expr.Range()}
	}
	return Bool{Value: v.True(), Range: a.Expr.Range(), Set: true}
}

// strList decodes a list of literal strings, each with its own range when
// written as a list literal.
func (d *decoder) strList(a *hcl.Attribute) []String {
	list, _ := d.strListOK(a)
	return list
}

func (d *decoder) strListOK(a *hcl.Attribute) ([]String, bool) {
	if a == nil {
		return nil, false
	}
	v, ok := d.eval(a.Expr, cty.List(cty.String), attrName(a))
	if !ok {
		return nil, false
	}
	ranges := elemRanges(a.Expr)
	var out []String
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		r := a.Expr.Range()
		if i < len(ranges) {
			r = ranges[i]
		}
		out = append(out, String{Value: ev.AsString(), Range: r, Set: true})
	}
	return out, true
}

// argv decodes a command: a non-empty list of strings.
func (d *decoder) argv(a *hcl.Attribute) Argv {
	if a == nil {
		return Argv{}
	}
	list, ok := d.strListOK(a)
	if !ok {
		return Argv{Range: a.Expr.Range()}
	}
	if len(list) == 0 || list[0].Value == "" {
		d.errorf(a.Expr.Range(), "Empty command", "The argument %q is a command as a list of arguments, such as [\"./deploy.sh\", \"start\"]; it must not be empty.", a.Name)
		return Argv{Range: a.Expr.Range()}
	}
	out := Argv{Range: a.Expr.Range(), Set: true}
	for _, s := range list {
		out.Args = append(out.Args, s.Value)
		out.ElemRanges = append(out.ElemRanges, s.Range)
	}
	return out
}

func elemRanges(expr hcl.Expression) []hcl.Range {
	t, ok := expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil
	}
	out := make([]hcl.Range, len(t.Exprs))
	for i, e := range t.Exprs {
		out[i] = e.Range()
	}
	return out
}

// strMap decodes a map of literal strings ({ "Accept" = "application/json" }).
func (d *decoder) strMap(a *hcl.Attribute) map[string]String {
	if a == nil {
		return nil
	}
	v, ok := d.eval(a.Expr, cty.Map(cty.String), attrName(a))
	if !ok {
		return nil
	}
	out := map[string]String{}
	for k, ev := range v.AsValueMap() {
		out[k] = String{Value: ev.AsString(), Range: a.Expr.Range(), Set: true}
	}
	return out
}

// valueMap decodes a map whose values may be env("NAME") (request headers
// carrying credentials).
func (d *decoder) valueMap(a *hcl.Attribute) map[string]Value {
	if a == nil {
		return nil
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		m := d.strMap(a)
		out := map[string]Value{}
		for k, s := range m {
			out[k] = Value{Literal: s.Value, Range: s.Range, Set: true}
		}
		return out
	}
	out := map[string]Value{}
	for _, item := range obj.Items {
		kv, diags := item.KeyExpr.Value(d.ctx)
		d.add(diags...)
		if diags.HasErrors() {
			continue
		}
		if kv.IsNull() || !kv.IsKnown() {
			d.errorf(item.KeyExpr.Range(), "Invalid key", "A header name must be a string.")
			continue
		}
		ks, err := convert.Convert(kv, cty.String)
		if err != nil {
			d.errorf(item.KeyExpr.Range(), "Invalid key", "A header name must be a string.")
			continue
		}
		out[ks.AsString()] = d.value(&hcl.Attribute{Name: ks.AsString(), Expr: item.ValueExpr, Range: item.ValueExpr.Range(), NameRange: item.KeyExpr.Range()})
	}
	return out
}
