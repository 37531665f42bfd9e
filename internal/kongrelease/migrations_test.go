package kongrelease

import (
	"reflect"
	"strings"
	"testing"
)

func names(subs []Subsystem) map[string]string {
	out := map[string]string{}
	for _, s := range subs {
		var n []string
		for _, m := range s.Migrations {
			n = append(n, m.Name)
		}
		out[s.Name] = strings.Join(n, ",")
	}
	return out
}

func TestMigrationsCore(t *testing.T) {
	base := "000_base,003_100_to_110,004_110_to_120,005_120_to_130,006_130_to_140,007_140_to_150,008_150_to_200,009_200_to_210,010_210_to_211,011_212_to_213,012_213_to_220,013_220_to_230,014_230_to_270,015_270_to_280"
	cases := map[string]string{
		"2.8.5":     base,
		"3.0.0":     base + ",016_280_to_300",
		"3.4.3.12":  base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340",
		"3.7.1":     base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340,021_340_to_350,022_350_to_360,023_360_to_370",
		"3.8.0":     base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340,021_340_to_350,022_350_to_360,023_360_to_370",
		"3.9.1":     base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340,021_340_to_350,022_350_to_360,023_360_to_370,024_380_to_390",
		"3.10.0.2":  base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340,021_340_to_350,022_350_to_360,023_360_to_370,024_380_to_390,025_390_to_3100",
		"3.10.0.11": base + ",016_280_to_300,017_300_to_310,018_310_to_320,019_320_to_330,020_330_to_340,021_340_to_350,022_350_to_360,023_360_to_370,024_380_to_390,025_390_to_3100",
	}
	for v, want := range cases {
		subs := Migrations(MustParse(v))
		if subs[0].Name != "core" || subs[0].Namespace != "kong.db.migrations.core" {
			t.Errorf("%s: first subsystem %+v", v, subs[0])
		}
		if got := names(subs)["core"]; got != want {
			t.Errorf("%s core:\n got %s\nwant %s", v, got, want)
		}
	}
}

// The end points kong-facts §3.5 gives for plugin subsystems.
func TestMigrationsPluginsEndPoints(t *testing.T) {
	got := names(Migrations(MustParse("2.8.5")))
	want285 := map[string]string{
		"acme": "000_base_acme", "key-auth": "000_base_key_auth,002_130_to_140,003_200_to_210",
		"rate-limiting": "000_base_rate_limiting,003_10_to_112,004_200_to_210", "session": "000_base_session,001_add_ttl_index",
	}
	for k, w := range want285 {
		if got[k] != w {
			t.Errorf("2.8.5 %s = %q, want %q", k, got[k], w)
		}
	}
	for _, absent := range []string{"http-log", "pre-function", "post-function", "opentelemetry", "ai-proxy"} {
		if _, ok := got[absent]; ok {
			t.Errorf("2.8.5 has subsystem %s", absent)
		}
	}
	subs := Migrations(MustParse("3.10.0.2"))
	var order []string
	for _, s := range subs {
		order = append(order, s.Name)
	}
	wantOrder := []string{"core", "acl", "acme", "ai-proxy", "basic-auth", "bot-detection", "hmac-auth", "http-log", "ip-restriction", "jwt", "key-auth", "oauth2", "opentelemetry", "post-function", "pre-function", "rate-limiting", "response-ratelimiting", "session"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("3.10 order %v", order)
	}
	got = names(subs)
	if got["oauth2"] != "000_base_oauth2,003_130_to_140,004_200_to_210,005_210_to_211,006_320_to_330,007_320_to_330" ||
		got["session"] != "000_base_session,001_add_ttl_index,002_320_to_330,003_330_to_3100" {
		t.Errorf("3.10 oauth2/session: %q %q", got["oauth2"], got["session"])
	}
	// opentelemetry 001_331_to_332 first ships after 3.3.1 (open source: 3.4.0).
	if _, ok := names(Migrations(MustParse("3.3.1")))["opentelemetry"]; ok {
		t.Error("3.3.1 has opentelemetry migrations")
	}
	if _, ok := names(Migrations(MustParse("3.4.0")))["opentelemetry"]; !ok {
		t.Error("3.4.0 lacks opentelemetry migrations")
	}
}

// Teardowns: exactly kong-facts §3.2 from 3.7.0 on; at 3.6.0 and 3.6.1
// the redis moves have none (K: Kong/kong tags 3.6.1 4e006aa and 3.7.0
// f16a64f, kong/plugins/{rate-limiting/migrations/006_350_to_360,
// response-ratelimiting/migrations/001_350_to_360,
// acme/migrations/003_350_to_360}.lua).
func TestMigrationsTeardowns(t *testing.T) {
	teardowns := func(v string) []string {
		var got []string
		for _, s := range Migrations(MustParse(v)) {
			for _, m := range s.Migrations {
				if m.Teardown {
					got = append(got, s.Name+"/"+m.Name)
				}
			}
		}
		return got
	}
	all := []string{"core/016_280_to_300", "acme/003_350_to_360", "ai-proxy/001_360_to_370", "http-log/001_280_to_300",
		"opentelemetry/001_331_to_332", "post-function/001_280_to_300", "pre-function/001_280_to_300",
		"rate-limiting/006_350_to_360", "response-ratelimiting/001_350_to_360"}
	at36 := []string{"core/016_280_to_300", "http-log/001_280_to_300",
		"opentelemetry/001_331_to_332", "post-function/001_280_to_300", "pre-function/001_280_to_300"}
	for v, want := range map[string][]string{"3.6.0": at36, "3.6.1": at36, "3.6.1.4": at36, "3.7.0": all, "3.7.1": all, "3.10.0.2": all} {
		if got := teardowns(v); !reflect.DeepEqual(got, want) {
			t.Errorf("%s teardowns\n got %v\nwant %v", v, got, want)
		}
	}
	// The migrations themselves are the same at 3.6.1 and 3.7.0.
	if n36, n37 := names(Migrations(MustParse("3.6.1"))), names(Migrations(MustParse("3.7.0"))); n36["rate-limiting"] != n37["rate-limiting"] ||
		n36["acme"] != n37["acme"] || n36["response-ratelimiting"] != n37["response-ratelimiting"] {
		t.Errorf("redis moves differ in name: 3.6.1 %v, 3.7.0 %v", n36, n37)
	}
}

func TestClassify(t *testing.T) {
	v := MustParse("3.6.1")
	rows := []SchemaMetaRow{
		// core: last_executed 021 itself absent from executed (missing),
		// 019 lost before it (new: state.lua only knows "after
		// last_executed" once its loop reaches it), 022 not run (new), an
		// unknown name ignored.
		{Subsystem: "core", LastExecuted: "021_340_to_350", Executed: []string{
			"000_base", "003_100_to_110", "004_110_to_120", "005_120_to_130", "006_130_to_140", "007_140_to_150", "008_150_to_200",
			"009_200_to_210", "010_210_to_211", "011_212_to_213", "012_213_to_220", "013_220_to_230", "014_230_to_270",
			"015_270_to_280", "016_280_to_300", "017_300_to_310", "018_310_to_320", "020_330_to_340", "999_ee_only"}},
		// rate-limiting: 006 pending; last_executed is not moved by pending.
		{Subsystem: "rate-limiting", LastExecuted: "005_320_to_330", Executed: []string{"000_base_rate_limiting", "003_10_to_112", "004_200_to_210", "005_320_to_330"}, Pending: []string{"006_350_to_360"}},
		// acme: last_executed names a migration 3.6.1 does not know: the
		// unlisted ones are new, not missing.
		{Subsystem: "acme", LastExecuted: "009_future", Executed: []string{"000_base_acme"}},
		// A subsystem 3.6.1 does not know is ignored.
		{Subsystem: "enterprise-thing", LastExecuted: "x", Executed: []string{"x"}},
	}
	c := Classify(v, rows)
	if got := c.Names(StateMissing); !reflect.DeepEqual(got, map[string][]string{"core": {"021_340_to_350"}}) {
		t.Errorf("missing %v", got)
	}
	if got := c.Names(StatePending); !reflect.DeepEqual(got, map[string][]string{"rate-limiting": {"006_350_to_360"}}) {
		t.Errorf("pending %v", got)
	}
	newer := c.Names(StateNew)
	if !reflect.DeepEqual(newer["core"], []string{"019_320_to_330", "022_350_to_360"}) ||
		!reflect.DeepEqual(newer["acme"], []string{"001_280_to_300", "002_320_to_330", "003_350_to_360"}) ||
		!reflect.DeepEqual(newer["acl"], []string{"000_base_acl", "002_130_to_140", "003_200_to_210", "004_212_to_213"}) {
		t.Errorf("new %v", newer)
	}
	for _, s := range c {
		if s.Name == "enterprise-thing" {
			t.Error("unknown subsystem classified")
		}
	}
	if !c.Has(StateNew) || c.Has("bogus") {
		t.Error("Has")
	}
	// Pending (as a 3.7+ up leaves it) although 3.6.1's file has no
	// teardown: state.lua reads the lists, not the files.
	if f := c.Filter(StatePending); len(f) != 1 || f[0].Name != "rate-limiting" || f[0].Migrations[0].Teardown {
		t.Errorf("Filter(pending) = %+v", f)
	}
	if f := Classify(MustParse("3.7.1"), rows).Filter(StatePending); len(f) != 1 || f[0].Name != "rate-limiting" || !f[0].Migrations[0].Teardown {
		t.Errorf("3.7.1 Filter(pending) = %+v", f)
	}
}
