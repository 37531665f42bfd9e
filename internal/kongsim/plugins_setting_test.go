package kongsim

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestPluginsSetting: Config.Plugins is kong.conf's plugins. A custom
// plugin is offered by name (GET / available_on_server, /plugins/enabled,
// its schema) and accepts any config; a plugin not loaded is refused with
// Kong's message.
func TestPluginsSetting(t *testing.T) {
	dsn := bootstrapped(t, "3.9.1")
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn, Plugins: []string{"bundled", "my-auth"}})
	admin := n.AdminURL()

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
	plain := startNode(t, Config{Version: "3.9.1", DSN: dsn})
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
