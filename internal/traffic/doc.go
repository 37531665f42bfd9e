// Package traffic holds Upshift's load balancer drivers: they move a share
// of requests from cluster X to cluster Y and read back the share the load
// balancer actually applies. Each driver has SetWeights (act) and Weights
// (check); the engine declares the interface it needs (engine.Router) and
// this package does not import it.
//
//   - nginx.go: [Nginx] edits the weight= and down parameters of X's and
//     Y's servers in an upstream block (atomic replace; everything else in
//     the file is kept), runs the plan's test command (nginx -t) and reload
//     command, and parses the file back; weight 0 is written as `down`.
//     nginxconf.go is the small reader/editor of that file; the file's
//     contract is in docs/traffic.md.
//   - haproxy.go: [HAProxy] sets server weights through the runtime API
//     socket (no reload) and reads `show servers state`, after checking
//     with `show stat` that the backend's weights split requests.
//   - command.go: [Command] runs the user's set and get commands.
//   - weights.go: [Weights] (percent per side) and how a side's share is
//     split exactly across several servers (rolling upgrades).
//
// A side at weight 0 gets no new requests, and requests in flight finish:
// nginx's old workers finish theirs after a reload; HAProxy finishes
// requests on a server whose weight drops to 0. Errors are *[Error]
// values ({Op, Target, Err}) carrying what the load balancer said.
//
// What it does not do: it does not decide weights or retry (the engine
// does), it does not manage load balancer processes or their main
// configuration, and it does not measure traffic. How the zero-failure
// claim is measured (a retrying client for nginx, wrk as well for HAProxy):
// the design's traffic-notes.md and this package's load tests.
//
// Start reading at weights.go, then nginx.go.
package traffic
