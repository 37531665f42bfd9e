// Package proxy is a kongsim node's proxy listener: it matches requests to
// routes as Kong's router does (hosts, paths, methods; traditional_compatible
// priorities in 3.x, regex paths marked with "~" from 3.0), runs the plugins
// kongsim emulates on the data path (key-auth, acl, rate-limiting,
// prometheus), forwards to the service with real HTTP, and adds Kong's
// response headers and error bodies for the node's version (kong-facts §5).
//
// It reads the configuration through the Load callback the node gives it and
// caches it until Invalidate; it does not store entities or validate them.
// Start reading at proxy.go (Handler), then router.go, plugins_*.go and
// respond.go (Kong's error bodies and headers).
package proxy
