package kongsim

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPluginsSetting: Config.Plugins is kong.conf's plugins. A custom
// plugin is offered by name (GET / available_on_server, /plugins/enabled,
// its schema) and accepts any config; a plugin not loaded is refused with
// Kong's message.
func TestPluginsSetting(t *testing.T) {
	dsn := bootstrapped(t, "3.9.1")
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"bundled", "my-auth"}})
	admin := n.AdminURL()
	// Started while no my-auth is configured: it starts.
	plain := startNode(t, Config{Version: "3.9.1", DSN: dsn})

	code, root := send(t, http.MethodGet, admin+"/", "", nil)
	wantStatus(t, "GET /", code, http.StatusOK, root)
	avail, _ := root["plugins"].(map[string]any)["available_on_server"].(map[string]any)
	if avail["my-auth"] == nil || avail["key-auth"] == nil {
		t.Fatalf("available_on_server: want my-auth and key-auth, got %v", avail)
	}
	if got := root["configuration"].(map[string]any)["plugins"]; !reflect.DeepEqual(got, []any{"bundled", "my-auth"}) {
		t.Errorf("configuration.plugins = %v", got)
	}
	code, enabled := send(t, http.MethodGet, admin+"/plugins/enabled", "", nil)
	wantStatus(t, "GET /plugins/enabled", code, http.StatusOK, enabled)
	if !strings.Contains(strings.Join(toStrings(enabled["enabled_plugins"]), ","), "my-auth") {
		t.Errorf("enabled_plugins lacks my-auth: %v", enabled)
	}
	code, schema := send(t, http.MethodGet, admin+"/schemas/plugins/my-auth", "", nil)
	wantStatus(t, "GET /schemas/plugins/my-auth", code, http.StatusOK, schema)

	// Any config is accepted and stored as given.
	code, p := send(t, http.MethodPost, admin+"/plugins", "application/json",
		[]byte(`{"name":"my-auth","config":{"header":"x-token","nested":{"ttl":30}}}`))
	wantStatus(t, "POST my-auth", code, http.StatusCreated, p)
	wantFields(t, "my-auth", p, map[string]any{"config": map[string]any{"header": "x-token", "nested": map[string]any{"ttl": 30.0}},
		"protocols": []any{"grpc", "grpcs", "http", "https"}})

	// The same database without the setting: Kong's not-enabled error.
	code, body := send(t, http.MethodPost, plain.AdminURL()+"/plugins", "application/json", []byte(`{"name":"my-auth"}`))
	wantStatus(t, "POST my-auth without the setting", code, http.StatusBadRequest, body)
	wantFields(t, "not enabled", body, map[string]any{"fields": map[string]any{"name": "plugin 'my-auth' not enabled; add it to the 'plugins' configuration property"}})
	code, root = send(t, http.MethodGet, plain.AdminURL()+"/", "", nil)
	wantStatus(t, "GET / without the setting", code, http.StatusOK, root)
	if avail := root["plugins"].(map[string]any)["available_on_server"].(map[string]any); avail["my-auth"] != nil {
		t.Errorf("my-auth available without the setting")
	}

	// Only custom plugins: the bundled ones are not loaded; off loads none.
	only := startNode(t, Config{Version: "3.9.1", Database: "off", Plugins: []string{"my-auth"}})
	code, root = send(t, http.MethodGet, only.AdminURL()+"/", "", nil)
	wantStatus(t, "GET / plugins=my-auth", code, http.StatusOK, root)
	if avail := root["plugins"].(map[string]any)["available_on_server"].(map[string]any); len(avail) != 1 || avail["my-auth"] == nil {
		t.Errorf("plugins=my-auth: available_on_server %v", avail)
	}
	code, body = send(t, http.MethodGet, only.AdminURL()+"/schemas/plugins/key-auth", "", nil)
	wantStatus(t, "key-auth schema with plugins=my-auth", code, http.StatusNotFound, body)
	off := startNode(t, Config{Version: "3.9.1", Database: "off", Plugins: []string{"off"}})
	code, root = send(t, http.MethodGet, off.AdminURL()+"/", "", nil)
	wantStatus(t, "GET / plugins=off", code, http.StatusOK, root)
	if avail := root["plugins"].(map[string]any)["available_on_server"].(map[string]any); len(avail) != 0 {
		t.Errorf("plugins=off: available_on_server %v", avail)
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestStartRefusesPluginInUseNotEnabled: a DB-mode node whose plugins
// setting does not load a plugin configured in the database refuses to
// start with Kong's message, as `kong start` fails in init; adding the
// plugin to the setting lets it start.
func TestStartRefusesPluginInUseNotEnabled(t *testing.T) {
	dsn := bootstrapped(t, "3.9.1")
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"bundled", "my-auth"}})
	code, p := send(t, http.MethodPost, n.AdminURL()+"/plugins", "application/json", []byte(`{"name":"my-auth","config":{}}`))
	wantStatus(t, "POST my-auth", code, http.StatusCreated, p)

	for _, setting := range [][]string{nil, {"bundled"}, {"off"}} {
		cfg := Config{Version: "3.9.1", DSN: dsn, Plugins: setting,
			AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0", StatusListen: "127.0.0.1:0"}
		m, err := Start(context.Background(), cfg)
		if err == nil {
			_ = m.Stop()
			t.Fatalf("plugins=%v: started with my-auth in use", setting)
		}
		if want := "error building initial plugins: my-auth plugin is in use but not enabled"; err.Error() != want {
			t.Errorf("plugins=%v: error %q, want %q", setting, err, want)
		}
	}
	startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"bundled", "my-auth"}})
	// Only the plugins in use need loading: the bundled ones are not.
	startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"my-auth"}})
}

// TestCustomPluginWithoutConfig: a custom plugin created without config
// is stored with config {} (Kong fills a config record with no required
// fields), not refused by plugins.config's NOT NULL.
func TestCustomPluginWithoutConfig(t *testing.T) {
	dsn := bootstrapped(t, "3.9.1")
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"bundled", "my-auth"}})
	code, p := send(t, http.MethodPost, n.AdminURL()+"/plugins", "application/json", []byte(`{"name":"my-auth"}`))
	wantStatus(t, "POST my-auth without config", code, http.StatusCreated, p)
	wantFields(t, "my-auth", p, map[string]any{"config": map[string]any{}})

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var cfg string
	if err := conn.QueryRow(ctx, `SELECT config::text FROM plugins WHERE name = 'my-auth'`).Scan(&cfg); err != nil {
		t.Fatalf("read my-auth's row: %v", err)
	}
	if cfg != "{}" {
		t.Errorf("my-auth's stored config = %s, want {}", cfg)
	}
}

// TestEnabledInCluster: GET /'s plugins.enabled_in_cluster is the sorted,
// distinct names of the plugins in the database ([] when none), read as
// one row per name (a node holding 100,000 plugins answered GET / after
// the engine's 10 s timeout when every row was read).
func TestEnabledInCluster(t *testing.T) {
	dsn := bootstrapped(t, "3.9.1")
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn})
	enabled := func() any {
		t.Helper()
		code, root := send(t, http.MethodGet, n.AdminURL()+"/", "", nil)
		wantStatus(t, "GET /", code, http.StatusOK, root)
		plugins, _ := root["plugins"].(map[string]any)
		return plugins["enabled_in_cluster"]
	}
	if got := enabled(); !reflect.DeepEqual(got, []any{}) {
		t.Errorf("no plugins: enabled_in_cluster = %#v, want []", got)
	}
	for _, body := range []string{`{"name":"key-auth"}`, `{"name":"rate-limiting","config":{"minute":5}}`, `{"name":"correlation-id"}`} {
		code, p := send(t, http.MethodPost, n.AdminURL()+"/plugins", "application/json", []byte(body))
		if code != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", body, code, p)
		}
	}
	// A second key-auth, on a service: still one name.
	code, s := send(t, http.MethodPost, n.AdminURL()+"/services", "application/json", []byte(`{"name":"s","url":"http://127.0.0.1:1"}`))
	if code != http.StatusCreated {
		t.Fatalf("POST service: %d %v", code, s)
	}
	if code, p := send(t, http.MethodPost, n.AdminURL()+"/services/s/plugins", "application/json", []byte(`{"name":"key-auth"}`)); code != http.StatusCreated {
		t.Fatalf("POST service key-auth: %d %v", code, p)
	}
	want := []any{"correlation-id", "key-auth", "rate-limiting"}
	if got := enabled(); !reflect.DeepEqual(got, want) {
		t.Errorf("enabled_in_cluster = %#v, want %#v", got, want)
	}
}
