// Package plugins knows Kong's bundled plugins per version: which ones a node
// of a given version offers (name, version, priority: GET / available_on_server),
// their config schemas, how Kong fills defaults and validates a plugin's
// config, and the JSON that GET /schemas/plugins/<name> returns.
//
// Schemas are written as Go data (schema_*.go), one definition per plugin
// with the version differences spelled out where Kong changed a field
// (kong-breaking-changes.md "Plugin config fields removed or renamed"); each
// names the Kong source file it follows. Validation reproduces Kong's field
// error shape ({"config":{"whitelist":"unknown field"}}) for the Admin API
// layer to wrap in Kong's schema-violation error.
//
// It does not store plugins, check the plugin entity's own fields (service,
// route, consumer, protocols: the store does that) or run plugins (proxy).
// Start reading at plugins.go (the exported API), then field.go (the schema
// model and validator).
package plugins
