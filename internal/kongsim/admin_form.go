package kongsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/form"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/plugins"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// args is a request body decoded as Kong's Admin API decodes it.
type args struct {
	m    map[string]any
	form bool // form-encoded or multipart: coerce by schema before use
}

// readArgs reads an entity request body: JSON (an empty body is {}), or a
// form-encoded or multipart body decoded into nested keys
// (K: kong/api/arguments.lua load). It answers the request itself when the
// body is refused (400 Cannot parse JSON body, 400 Too many arguments).
func (n *Node) readArgs(w http.ResponseWriter, r *http.Request) (*args, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Cannot parse JSON body")
		return nil, false
	}
	ct := r.Header.Get("Content-Type")
	if form.IsForm(ct) {
		m, err := form.Parse(ct, b, form.Options{Brackets: n.version.AtLeast(3, 8, 0), Method: r.Method})
		if errors.Is(err, form.ErrTooMany) {
			writeMessage(w, http.StatusBadRequest, "Too many arguments")
			return nil, false
		}
		return &args{m: m, form: true}, true
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return &args{m: map[string]any{}}, true
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		writeMessage(w, http.StatusBadRequest, "Cannot parse JSON body")
		return nil, false
	}
	if m == nil {
		m = map[string]any{}
	}
	return &args{m: m}, true
}

// coerce applies the entity schema's coercion to form arguments; for a
// plugin, the config follows the schema of the plugin named in the body,
// else of stored (a PATCH without name: K: kong/api/routes/plugins.lua
// patch_plugin decodes again once it knows the name).
func (n *Node) coerce(a *args, ent *store.Entity, stored map[string]any) map[string]any {
	if !a.form {
		return a.m
	}
	name, _ := a.m["name"].(string)
	if name == "" && stored != nil {
		name, _ = stored["name"].(string)
	}
	form.Infer(a.m, &entityShape{n: n, ent: ent, plugin: name})
	return a.m
}

// entityShape is an entity schema seen by form.Infer.
type entityShape struct {
	n      *Node
	ent    *store.Entity
	plugin string // plugins: the plugin whose config schema applies
}

func (e *entityShape) Type() string         { return "record" }
func (e *entityShape) Elements() form.Field { return nil }
func (e *entityShape) Values() form.Field   { return nil }
func (e *entityShape) Sub(name string) form.Field {
	if e.ent.Name == "plugins" && name == "config" {
		if f := plugins.ConfigField(e.n.version, e.plugin); f != nil {
			return f
		}
		return nil
	}
	f := e.ent.Field(name)
	if f == nil {
		return nil
	}
	return &fieldShape{n: e.n, f: f}
}

// fieldShape is a store field seen by form.Infer. A "json" field with a
// default (upstreams' healthchecks) is coerced by the default's shape.
type fieldShape struct {
	n *Node
	f *store.Field
}

func (s *fieldShape) Type() string {
	if s.f.Type == "json" {
		return shapeOf(s.f.Default).Type()
	}
	return s.f.Type
}

func (s *fieldShape) Elements() form.Field {
	if s.f.Type == "json" {
		return shapeOf(s.f.Default).Elements()
	}
	if s.f.Elements == nil {
		return nil
	}
	return &fieldShape{n: s.n, f: s.f.Elements}
}

func (s *fieldShape) Values() form.Field {
	if s.f.Values == nil {
		return nil
	}
	return &fieldShape{n: s.n, f: s.f.Values}
}

func (s *fieldShape) Sub(name string) form.Field {
	switch s.f.Type {
	case "json":
		return shapeOf(s.f.Default).Sub(name)
	case "foreign":
		ref := s.n.reg.ByName(s.f.Reference)
		if ref == nil {
			return nil
		}
		return (&entityShape{n: s.n, ent: ref}).Sub(name)
	}
	for _, c := range s.f.Fields {
		if c.Name == name {
			return &fieldShape{n: s.n, f: c}
		}
	}
	return nil
}

// valueShape infers a field's type from a default value.
type valueShape struct{ v any }

func shapeOf(v any) valueShape { return valueShape{v} }

func (s valueShape) Type() string {
	switch s.v.(type) {
	case float64:
		return "number"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "record"
	}
	return ""
}

func (s valueShape) Elements() form.Field {
	if l, ok := s.v.([]any); ok && len(l) > 0 {
		return shapeOf(l[0])
	}
	return nil
}

func (s valueShape) Values() form.Field { return nil }

func (s valueShape) Sub(name string) form.Field {
	if m, ok := s.v.(map[string]any); ok {
		if e, ok := m[name]; ok {
			return shapeOf(e)
		}
	}
	return nil
}
