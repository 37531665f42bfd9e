// Package kongsim emulates a Kong Gateway node of a chosen version for
// Upshift's tests and sandbox: the Admin API (entities stored in
// PostgreSQL, or in memory for DB-less nodes), the Status API, the proxy
// listener, a control plane's cluster listener, and faults on demand. Kong's
// own Go client (go-kong) and decK's engine (go-database-reconciler) work
// against it unchanged; conformance_test.go shows them doing so.
//
// Start a node with Start(ctx, Config{Version: "3.9.1", DSN: ...}).
// Seed (seed.go; `kongsim seed`) fills a bootstrapped database with many
// services, routes, consumers, key-auth credentials and rate-limiting
// plugins at once (COPY), for tests and benchmarks at realistic sizes. A
// database node refuses to start as `kong start` does when the database
// needs bootstrapping or has new migrations (kong migrations live in
// internal/migrations and cmd/kong).
//
// Where to read: node.go (Start, listeners, wiring), admin.go (routing and
// entity endpoints), admin_info.go (GET /, /schemas, /clustering),
// dbless.go (/config), status.go (/status, /status/ready, /metrics),
// faults.go. Entity schemas, validation and storage are in
// internal/store; plugin schemas in internal/plugins; the data path in
// internal/proxy, internal/prom and internal/hybrid.
//
// It does not emulate Enterprise-only APIs (they answer 404 as open-source
// Kong does), TLS listeners, workspaces, or the stream (TCP/UDP) proxy.
// fidelity/*.md lists what is emulated, with Kong source references.
package kongsim
