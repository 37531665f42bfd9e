// Package prom renders the Prometheus plugin's /metrics exposition of a
// kongsim node, per Kong version (kong/plugins/prometheus/exporter.lua):
// the always-on node metrics (kong_node_info, kong_datastore_reachable,
// nginx connections and requests, memory, hybrid-mode gauges) and the
// per-request metrics that the proxy feeds through Observe, which Kong only
// records when the prometheus plugin runs on the request with the matching
// flag (status_code_metrics, latency_metrics, bandwidth_metrics; in 2.8
// always, under 2.8's metric names and buckets).
//
// It does not serve HTTP (the Admin and Status API layer calls Write) or
// decide which plugin applies to a request (proxy does). Start at prom.go.
package prom
