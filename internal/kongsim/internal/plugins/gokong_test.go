package plugins

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// TestGoKongFillsLikeValidate feeds Schema's JSON to go-kong's
// FillPluginsDefaults (what go-database-reconciler uses to fill plugin
// defaults before diffing) and checks it fills the same defaults Validate
// stores; a mismatch would make every sync report a diff.
func TestGoKongFillsLikeValidate(t *testing.T) {
	cases := []struct {
		version, name string
		config        map[string]any
	}{
		{"3.9.1", "key-auth", map[string]any{}},
		{"3.6.1", "key-auth", map[string]any{}},
		{"2.8.5", "key-auth", map[string]any{}},
		{"3.9.1", "rate-limiting", map[string]any{"minute": 5.0}},
		{"3.6.1", "rate-limiting", map[string]any{"minute": 5.0, "policy": "redis", "redis": map[string]any{"host": "r"}}},
		{"3.5.0", "rate-limiting", map[string]any{"minute": 5.0}},
		{"3.9.1", "prometheus", map[string]any{}},
		{"3.9.1", "acl", map[string]any{"allow": []any{"a"}}},
		{"3.9.1", "http-log", map[string]any{"http_endpoint": "http://log:9000/"}},
		{"3.2.2", "http-log", map[string]any{"http_endpoint": "http://log:9000/"}},
		{"3.9.1", "pre-function", map[string]any{"access": []any{"return"}}},
		{"3.9.1", "basic-auth", map[string]any{}},
		{"3.9.1", "response-ratelimiting", map[string]any{"limits": map[string]any{"sms": map[string]any{"minute": 10.0}}}},
		{"3.5.0", "response-ratelimiting", map[string]any{"limits": map[string]any{"sms": map[string]any{"minute": 10.0}}}},
		{"3.4.2", "cors", map[string]any{"origins": []any{"*"}}},
		{"3.10.0", "cors", map[string]any{}},
		{"3.9.1", "correlation-id", map[string]any{}},
		{"2.8.5", "request-transformer", map[string]any{"add": map[string]any{"headers": []any{"x-a:1"}}}},
		{"3.9.1", "request-transformer", map[string]any{}},
		{"3.7.1", "response-transformer", map[string]any{}},
		{"3.9.1", "response-transformer", map[string]any{"remove": map[string]any{"headers": []any{"x-b"}}}},
		{"3.7.1", "jwt", map[string]any{}},
		{"3.9.1", "jwt", map[string]any{"maximum_expiration": 60.0, "claims_to_verify": []any{"exp"}}},
		{"3.2.2", "proxy-cache", map[string]any{"strategy": "memory"}},
		{"3.9.1", "proxy-cache", map[string]any{"strategy": "memory"}},
		{"3.9.1", "request-termination", map[string]any{"message": "bye"}},
	}
	for _, c := range cases {
		t.Run(c.version+"/"+c.name, func(t *testing.T) {
			v := kongrelease.MustParse(c.version)
			filled, errs, err := Validate(v, c.name, c.config)
			if err != nil || errs != nil {
				t.Fatalf("Validate: %v %v", err, errs)
			}
			body, _ := Schema(v, c.name)
			var schema map[string]any
			if err := json.Unmarshal(body, &schema); err != nil {
				t.Fatal(err)
			}
			in, _ := json.Marshal(c.config)
			var cfg kong.Configuration
			_ = json.Unmarshal(in, &cfg)
			p := &kong.Plugin{Name: kong.String(c.name), Config: cfg}
			if err := kong.FillPluginsDefaults(p, schema); err != nil {
				t.Fatalf("go-kong FillPluginsDefaults: %v", err)
			}
			for k, want := range filled {
				if k == "limits" {
					// go-kong treats a map field as already set, while Kong fills
					// the records inside it with nulls; neither changes a value.
					continue
				}
				got, ok := p.Config[k]
				if !ok {
					if want != nil {
						t.Errorf("go-kong left %s unset, Kong stores %v", k, want)
					}
					continue
				}
				if !reflect.DeepEqual(normalize(got), normalize(want)) {
					t.Errorf("%s: go-kong %v, Validate %v", k, got, want)
				}
			}
		})
	}
}

func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
