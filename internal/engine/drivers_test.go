package engine

import (
	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/internal/traffic"
)

// Every load balancer driver is a Router.
var (
	_ Router = (*traffic.Nginx)(nil)
	_ Router = (*traffic.HAProxy)(nil)
	_ Router = (*traffic.Command)(nil)
)

// Every check is a Gate, every analysis an Analysis.
var (
	_ Gate     = (*analysis.HTTPCheck)(nil)
	_ Gate     = (*analysis.DataPlaneSync)(nil)
	_ Analysis = (*analysis.Prometheus)(nil)
	_ Analysis = (*analysis.Compare)(nil)
)
