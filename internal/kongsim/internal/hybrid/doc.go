// Package hybrid is kongsim's hybrid mode: the control plane's registry of
// data planes (what GET /clustering/data-planes lists, and the acceptance
// rule of kong-facts §4.2, kongrelease.DataPlaneAccepted) and the
// data plane's client that pulls the declarative configuration from its
// control plane.
//
// Kong's real protocol is a WebSocket (wRPC/JSON) on the cluster listener
// with mutual TLS; kongsim uses plain HTTP polling instead (FIDELITY.md):
// POST /v1/dp/report (the data plane's identity, version, plugin list and
// config hash; the answer says whether it is accepted) and GET /v1/config
// (the configuration, only for accepted data planes).
//
// It does not validate or store the configuration: the control plane's node
// supplies it (Snapshot) and the data plane's node applies it (Apply).
// Start reading at registry.go, then client.go.
package hybrid
