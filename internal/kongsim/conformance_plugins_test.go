package kongsim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kong/go-database-reconciler/pkg/file"
)

// realisticPlugins is a decK file with a dozen plugins on services,
// routes, consumers and globally, as a team would write it: only the
// settings they care about, every other field left to the schema's
// defaults.
const realisticPlugins = `_format_version: "3.0"
services:
- name: orders
  url: http://orders.internal:8080
  plugins:
  - name: rate-limiting
    config: {minute: 100, policy: local}
  - name: request-transformer
    config: {add: {headers: ["x-team:orders"]}}
  - name: ip-restriction
    config: {allow: ["10.0.0.0/8"]}
  routes:
  - name: orders-api
    paths: [/orders]
    plugins:
    - name: cors
      config: {origins: ["https://shop.example"]}
    - name: key-auth
      config: {key_names: [apikey]}
    - name: acl
      config: {allow: [gold]}
    - name: response-transformer
      config: {remove: {headers: [x-internal]}}
    - name: proxy-cache
      config: {strategy: memory}
  - name: orders-admin
    paths: [/orders-admin]
    plugins:
    - name: basic-auth
    - name: bot-detection
- name: billing
  url: http://billing.internal:8080
  routes:
  - name: billing-api
    paths: [/billing]
    plugins:
    - name: jwt
    - name: request-termination
      config: {status_code: 503, message: maintenance}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
  acls:
  - group: gold
  plugins:
  - name: rate-limiting
    config: {hour: 1000}
plugins:
- name: prometheus
  config: {status_code_metrics: true}
- name: correlation-id
  config: {header_name: X-Request-ID}
`

// TestConformanceDozenPlugins: after a decK sync of a realistic file, a
// second sync of the same file changes nothing on every version the engine
// upgrades across. It fails when /schemas/plugins/<name> lacks a field the
// plugin's schema.lua declares with a default (protocols, a config field):
// decK fills the default from the schema, kongsim stores its own, and the
// second diff shows an update.
func TestConformanceDozenPlugins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yaml")
	if err := os.WriteFile(path, []byte(realisticPlugins), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"3.4.2", "3.8.0", "3.9.1"} {
		t.Run(v, func(t *testing.T) {
			content, err := file.GetContentFromFiles([]string{path}, false)
			if err != nil {
				t.Fatal(err)
			}
			c := client(t, startNode(t, Config{Version: v, DSN: bootstrapped(t, v)}))
			if cr, u, d := syncContent(t, c, content); cr == 0 || u+d != 0 {
				t.Fatalf("first sync: %d creates, %d updates, %d deletes", cr, u, d)
			}
			if cr, u, d := syncContent(t, c, content); cr+u+d != 0 {
				t.Fatalf("second sync of the same file: %d creates, %d updates, %d deletes", cr, u, d)
			}
		})
	}
}
