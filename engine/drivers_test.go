package engine

import "github.com/upshift-dev/upshift/traffic"

// Every load balancer driver is a Router.
var (
	_ Router = (*traffic.Nginx)(nil)
	_ Router = (*traffic.HAProxy)(nil)
	_ Router = (*traffic.Command)(nil)
)
