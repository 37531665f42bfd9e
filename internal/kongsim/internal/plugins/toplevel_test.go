package plugins

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// TestTopLevelFields: /schemas/plugins/<name> lists the top-level fields
// the plugin's schema.lua declares at that version, before config.
func TestTopLevelFields(t *testing.T) {
	for _, c := range []struct {
		v, name string
		want    string // field names in order, then each protocols default
	}{
		{"3.8.0", "rate-limiting", "protocols config | grpc,grpcs,http,https"},
		{"3.8.0", "key-auth", "consumer protocols config | grpc,grpcs,http,https"},
		{"3.8.0", "cors", "consumer protocols config | grpc,grpcs,http,https"},
		{"3.3.1", "ip-restriction", "protocols config | grpc,grpcs,http,https"},
		{"3.4.2", "ip-restriction", "protocols config | http,https,tcp,tls,grpc,grpcs"},
		{"3.0.2", "prometheus", "config |"},
		{"3.1.1", "prometheus", "protocols config | grpc,grpcs,http,https"},
		{"2.8.5", "pre-function", "consumer config |"},
		{"3.9.1", "acme", "consumer service route protocols config | grpc,grpcs,http,https"},
	} {
		raw, ok := Schema(kongrelease.MustParse(c.v), c.name)
		if !ok {
			t.Fatalf("%s %s: no schema", c.v, c.name)
		}
		var body struct{ Fields []map[string]map[string]any }
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		var names, defs []string
		for _, f := range body.Fields {
			for n, d := range f {
				names = append(names, n)
				if n == "protocols" {
					for _, p := range d["default"].([]any) {
						defs = append(defs, p.(string))
					}
				}
				if n == "consumer" && (d["type"] != "foreign" || d["eq"] != nil || d["reference"] != "consumers") {
					t.Errorf("%s %s: consumer field %v", c.v, c.name, d)
				}
			}
		}
		if got := strings.TrimSpace(strings.Join(names, " ") + " | " + strings.Join(defs, ",")); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.v, c.name, got, c.want)
		}
	}
}

// TestTopLevelTablesCoverBundled: every bundled plugin of every series has
// an entry read from its schema.lua.
func TestTopLevelTablesCoverBundled(t *testing.T) {
	for series, table := range bundledTablesOld {
		for name := range table {
			if _, ok := topLevelTables[series][name]; !ok {
				t.Errorf("%s: %s has no top-level entry", series, name)
			}
		}
	}
	for series, table := range bundledTablesNew {
		for name := range table {
			if _, ok := topLevelTables[series][name]; !ok {
				t.Errorf("%s: %s has no top-level entry", series, name)
			}
		}
	}
}

// TestTopLevelChecks: a plugin's own top-level fields are checked as its
// schema declares them.
func TestTopLevelChecks(t *testing.T) {
	o := NewOffer(kongrelease.MustParse("3.8.0"), nil)
	errs := o.Check("key-auth", map[string]any{"consumer": map[string]any{"id": "x"}, "protocols": []any{"http", "tcp"}})
	b, _ := json.Marshal(errs)
	if want := `{"consumer":"value must be null","protocols":[null,"expected one of: grpc, grpcs, http, https"]}`; string(b) != want {
		t.Errorf("key-auth checks: %s, want %s", b, want)
	}
	if errs := o.Check("prometheus", map[string]any{"consumer": map[string]any{"id": "x"}, "protocols": []any{"tcp"}}); errs != nil {
		t.Errorf("prometheus allows a consumer and tcp: %v", errs)
	}
}

// TestMorePluginChecks: messages of the schemas added from schema.lua.
func TestMorePluginChecks(t *testing.T) {
	v := kongrelease.MustParse("3.9.1")
	for _, c := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"jwt", map[string]any{"maximum_expiration": 60.0}, `{"@entity":["failed conditional validation given value of field 'config.maximum_expiration'"],"config":{"claims_to_verify":"expected to contain: exp"}}`},
		{"request-termination", map[string]any{"message": "x", "body": "y"}, `{"config":"message cannot be used with content_type or body"}`},
		{"request-transformer", map[string]any{"add": map[string]any{"headers": []any{"x a:1"}}}, `{"config":{"add":{"headers":["'x a' is not a valid header"]}}}`},
		{"request-transformer", map[string]any{"add": map[string]any{"querystring": []any{"q"}}}, `{"config":{"add":{"querystring":["key 'q' has no value"]}}}`},
		{"response-transformer", map[string]any{"add": map[string]any{"json": []any{"novalue"}}}, `{"config":{"add":{"json":["invalid value: novalue"]}}}`},
		{"proxy-cache", map[string]any{}, `{"config":{"strategy":"required field missing"}}`},
		{"cors", map[string]any{"methods": []any{"GET", "FETCH"}}, `{"config":{"methods":[null,"expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"]}}`},
	} {
		_, errs, err := Validate(v, c.name, c.cfg)
		b, _ := json.Marshal(errs)
		if err != nil || string(b) != c.want {
			t.Errorf("%s %v: %s (%v), want %s", c.name, c.cfg, b, err, c.want)
		}
	}
}
