package plugins

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVersionDifferences checks that configs valid on one version are
// refused on another exactly for the fields kong-breaking-changes.md names.
func TestVersionDifferences(t *testing.T) {
	cases := []struct {
		name, version, plugin, config string
		wantErrs                      string // "" = valid
	}{
		{"acl whitelist 2.8", "2.8.5", "acl", `{"whitelist":["a"]}`, ""},
		{"acl whitelist 3.0", "3.0.0", "acl", `{"whitelist":["a"]}`, `{"config":{"whitelist":"unknown field"}}`},
		{"acl blacklist 3.4", "3.4.3.12", "acl", `{"allow":["a"],"blacklist":["b"]}`, `{"config":{"blacklist":"unknown field"}}`},
		{"acl none", "3.8.0", "acl", `{}`, `{"@entity":["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]}`},
		{"acl both", "3.8.0", "acl", `{"allow":["a"],"deny":["b"]}`, `{"@entity":["exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"]}`},
		{"pre-function functions 2.8", "2.8.5", "pre-function", `{"functions":["return"]}`, ""},
		{"pre-function functions 3.0", "3.0.0", "pre-function", `{"functions":["return"]}`, `{"config":{"functions":"unknown field"}}`},
		{"pre-function empty", "3.9.1", "pre-function", `{}`, `{"@entity":["at least one of these fields must be non-empty: 'config.certificate', 'config.rewrite', 'config.access', 'config.header_filter', 'config.body_filter', 'config.log'"]}`},
		{"http-log header array 2.8", "2.8.5", "http-log", `{"http_endpoint":"http://log:9000/","headers":{"X-A":["1","2"]}}`, ""},
		{"http-log header array 3.0", "3.0.0", "http-log", `{"http_endpoint":"http://log:9000/","headers":{"X-A":["1","2"]}}`, `{"config":{"headers":{"X-A":"expected a string"}}}`},
		{"http-log queue 3.2", "3.2.2", "http-log", `{"http_endpoint":"http://log:9000/","queue":{"max_batch_size":10}}`, `{"config":{"queue":"unknown field"}}`},
		{"http-log queue 3.3", "3.3.0", "http-log", `{"http_endpoint":"http://log:9000/","queue":{"max_batch_size":10}}`, ""},
		{"http-log queue float 3.4", "3.4.0", "http-log", `{"http_endpoint":"http://log:9000/","queue":{"max_batch_size":1.5}}`, `{"config":{"queue":{"max_batch_size":"expected an integer"}}}`},
		{"http-log endpoint missing", "3.9.1", "http-log", `{}`, `{"config":{"http_endpoint":"required field missing"}}`},
		{"key-auth realm 3.6", "3.6.1", "key-auth", `{"realm":"x"}`, `{"config":{"realm":"unknown field"}}`},
		{"key-auth realm 3.7", "3.7.0", "key-auth", `{"realm":"x"}`, ""},
		{"key-auth bad key name", "3.9.1", "key-auth", `{"key_names":["ok","bad name"]}`, `{"config":{"key_names":[null,"bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"]}}`},
		{"key-auth type", "3.9.1", "key-auth", `{"hide_credentials":"yes"}`, `{"config":{"hide_credentials":"expected a boolean"}}`},
		{"prometheus flags 2.8", "2.8.5", "prometheus", `{"status_code_metrics":true}`, `{"config":{"status_code_metrics":"unknown field"}}`},
		{"prometheus flags 3.0", "3.0.0", "prometheus", `{"status_code_metrics":true}`, ""},
		{"prometheus ai 3.7", "3.7.1", "prometheus", `{"ai_metrics":true}`, `{"config":{"ai_metrics":"unknown field"}}`},
		{"rate-limiting none", "3.9.1", "rate-limiting", `{}`, `{"@entity":["at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"]}`},
		{"rate-limiting order", "3.9.1", "rate-limiting", `{"minute":10,"hour":5}`, `{"config":"The limit for hour(5.0) cannot be lower than the limit for minute(10.0)"}`},
		{"rate-limiting policy", "3.9.1", "rate-limiting", `{"minute":10,"policy":"memcached"}`, `{"config":{"policy":"expected one of: local, cluster, redis"}}`},
		{"rate-limiting redis no host 3.5", "3.5.0", "rate-limiting", `{"minute":10,"policy":"redis"}`, `{"@entity":["failed conditional validation given value of field 'config.policy'"],"config":{"redis_host":"required field missing"}}`},
		{"rate-limiting redis no host 3.6", "3.6.1", "rate-limiting", `{"minute":10,"policy":"redis"}`, `{"@entity":["failed conditional validation given value of field 'config.policy'"],"config":{"redis":{"host":"required field missing"}}}`},
		{"rate-limiting redis_host 3.6", "3.6.1", "rate-limiting", `{"minute":10,"policy":"redis","redis_host":"r"}`, ""},
		{"rate-limiting redis record 3.5", "3.5.0", "rate-limiting", `{"minute":10,"redis":{"host":"r"}}`, `{"config":{"redis":"unknown field"}}`},
		{"rate-limiting gt 0", "3.9.1", "rate-limiting", `{"minute":0}`, `{"config":{"minute":"value must be greater than 0"}}`},
		{"response-ratelimiting limits missing", "3.9.1", "response-ratelimiting", `{}`, `{"config":{"limits":"required field missing"}}`},
		{"response-ratelimiting limits empty", "3.9.1", "response-ratelimiting", `{"limits":{}}`, `{"config":{"limits":"length must be at least 1"}}`},
		{"response-ratelimiting limit without period", "3.9.1", "response-ratelimiting", `{"limits":{"sms":{}}}`, `{"config":{"limits":{"sms":"at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'"}}}`},
		{"response-ratelimiting redis_host 3.6", "3.6.1", "response-ratelimiting", `{"limits":{"sms":{"minute":10}},"redis_host":"r"}`, ""},
		{"response-ratelimiting redis 3.5", "3.5.0", "response-ratelimiting", `{"limits":{"sms":{"minute":10}},"redis":{"host":"r"}}`, `{"config":{"redis":"unknown field"}}`},
		{"ip-restriction cidr", "3.9.1", "ip-restriction", `{"allow":["10.0.0.0/8","nope"]}`, `{"config":{"allow":[null,"invalid ip or cidr range: 'nope'"]}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := kongrelease.MustParse(c.version)
			filled, errs, err := Validate(v, c.plugin, mustJSON(t, c.config))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.wantErrs == "" {
				if errs != nil {
					t.Fatalf("want valid, got %s", asJSON(t, errs))
				}
				if filled == nil {
					t.Fatal("valid config returned no filled config")
				}
				return
			}
			if got := asJSON(t, errs); got != asJSON(t, mustJSON(t, c.wantErrs)) {
				t.Fatalf("errors:\n got  %s\n want %s", got, c.wantErrs)
			}
		})
	}
}

func TestDefaultsAndShorthands(t *testing.T) {
	v28 := kongrelease.MustParse("2.8.5")
	filled, errs, _ := Validate(v28, "acl", map[string]any{"whitelist": []any{"g"}})
	if errs != nil {
		t.Fatalf("errs %v", errs)
	}
	want := map[string]any{"allow": []any{"g"}, "deny": nil, "hide_groups_header": false}
	if !reflect.DeepEqual(filled, want) {
		t.Fatalf("2.8 acl filled = %v, want %v", filled, want)
	}

	v39 := kongrelease.MustParse("3.9.1")
	filled, _, _ = Validate(v39, "prometheus", nil)
	for _, k := range []string{"per_consumer", "status_code_metrics", "latency_metrics", "bandwidth_metrics", "upstream_health_metrics", "ai_metrics"} {
		if filled[k] != false {
			t.Errorf("prometheus 3.9 %s = %v, want false", k, filled[k])
		}
	}

	filled, _, _ = Validate(v39, "key-auth", map[string]any{})
	if asJSON(t, filled) != `{"anonymous":null,"hide_credentials":false,"key_in_body":false,"key_in_header":true,"key_in_query":true,"key_names":["apikey"],"realm":null,"run_on_preflight":true}` {
		t.Errorf("key-auth 3.9 defaults = %s", asJSON(t, filled))
	}

	// 3.6: redis_* are shorthands into redis.*; stored config has no flat
	// field, reads carry them back (translate_backwards).
	v36 := kongrelease.MustParse("3.6.1")
	filled, errs, _ = Validate(v36, "rate-limiting", map[string]any{"minute": 5.0, "policy": "redis", "redis_host": "redis.local", "redis_port": 6380.0})
	if errs != nil {
		t.Fatalf("errs %v", errs)
	}
	redis := filled["redis"].(map[string]any)
	if redis["host"] != "redis.local" || redis["port"] != 6380.0 || redis["timeout"] != 2000.0 {
		t.Fatalf("redis = %v", redis)
	}
	if _, ok := filled["redis_host"]; ok {
		t.Fatal("stored config keeps the shorthand redis_host")
	}
	read := ForRead(v36, "rate-limiting", filled)
	if read["redis_host"] != "redis.local" || read["redis_port"] != 6380.0 {
		t.Fatalf("ForRead = %v", read)
	}
	// 3.5: flat fields are real fields with defaults.
	filled, _, _ = Validate(kongrelease.MustParse("3.5.0"), "rate-limiting", map[string]any{"minute": 5.0, "policy": "redis", "redis_host": "r"})
	if filled["redis_port"] != 6379.0 || filled["redis_timeout"] != 2000.0 || filled["redis_database"] != 0.0 {
		t.Fatalf("3.5 flat defaults = %v", filled)
	}
	if ForRead(kongrelease.MustParse("3.5.0"), "rate-limiting", filled)["redis"] != nil {
		t.Fatal("3.5 read grew a redis record")
	}
	// 2.8's rate-limiting policy default is cluster, 3.x local (30-13).
	filled, _, _ = Validate(v28, "rate-limiting", map[string]any{"minute": 5.0})
	if filled["policy"] != "cluster" {
		t.Fatalf("2.8 policy default = %v", filled["policy"])
	}
}

func TestNotEnabled(t *testing.T) {
	_, _, err := Validate(kongrelease.MustParse("3.9.1"), "no-such", nil)
	var ne *NotEnabledError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v", err)
	}
	if err.Error() != "plugin 'no-such' not enabled; add it to the 'plugins' configuration property" {
		t.Fatalf("message %q", err.Error())
	}
	// redirect is bundled from 3.9 only.
	if _, _, err := Validate(kongrelease.MustParse("3.8.0"), "redirect", nil); err == nil {
		t.Fatal("3.8 accepted redirect")
	}
	if _, _, err := Validate(kongrelease.MustParse("3.9.0"), "redirect", map[string]any{"x": 1.0}); err != nil {
		t.Fatalf("3.9 redirect: %v", err)
	}
}

func TestAvailable(t *testing.T) {
	a28 := Available(kongrelease.MustParse("2.8.5"))
	if a28["key-auth"] != (Info{Version: "2.4.0", Priority: 1003}) {
		t.Fatalf("2.8 key-auth = %+v", a28["key-auth"])
	}
	a39 := Available(kongrelease.MustParse("3.9.1"))
	if a39["key-auth"] != (Info{Version: "3.9.1", Priority: 1250}) {
		t.Fatalf("3.9 key-auth = %+v", a39["key-auth"])
	}
	if len(a28) != 36 || len(a39) != 45 {
		t.Fatalf("counts 2.8=%d 3.9=%d", len(a28), len(a39))
	}
	if _, ok := Available(kongrelease.MustParse("3.5.0"))["ai-proxy"]; ok {
		t.Fatal("ai-proxy on 3.5")
	}
	ee := Available(kongrelease.MustParse("3.10.0.2"))
	if ee["rate-limiting"].Version != "3.10.0.2" {
		t.Fatalf("3.10 EE version %+v", ee["rate-limiting"])
	}
}

// TestSchemaForReconciler checks the shape go-database-reconciler reads
// defaults from: fields[].config.fields[].<name>.default.
func TestSchemaForReconciler(t *testing.T) {
	body, ok := Schema(kongrelease.MustParse("3.8.0"), "key-auth")
	if !ok {
		t.Fatal("no schema")
	}
	var s struct {
		Fields []map[string]struct {
			Fields []map[string]map[string]any `json:"fields"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	defaults := map[string]any{}
	for _, f := range s.Fields {
		if c, ok := f["config"]; ok {
			for _, cf := range c.Fields {
				for name, def := range cf {
					defaults[name] = def["default"]
				}
			}
		}
	}
	if !reflect.DeepEqual(defaults["key_names"], []any{"apikey"}) || defaults["key_in_query"] != true || defaults["realm"] != nil {
		t.Fatalf("defaults = %v", defaults)
	}
	if _, ok := Schema(kongrelease.MustParse("3.8.0"), "nope"); ok {
		t.Fatal("schema for unknown plugin")
	}
	if _, ok := Schema(kongrelease.MustParse("3.8.0"), "cors"); !ok {
		t.Fatal("no schema for bundled but unmodelled plugin")
	}
}
