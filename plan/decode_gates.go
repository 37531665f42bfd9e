package plan

import (
	"github.com/hashicorp/hcl/v2"
)

// decodeTraffic decodes traffic "KIND" with the schema of its kind.
func (d *decoder) decodeTraffic(b *hcl.Block) *Traffic {
	t := &Traffic{Kind: b.Labels[0], KindRange: b.LabelRanges[0], DeclRange: b.DefRange}
	schema, ok := trafficSchemas[t.Kind]
	if !ok {
		d.errorf(b.LabelRanges[0], "Unknown traffic driver", "traffic %q is not a driver Upshift has; use one of nginx, haproxy, command.%s", t.Kind, DidYouMean(t.Kind, TrafficKinds))
		return t // kept (without attributes) so that lint does not call it missing
	}
	content, diags := b.Body.Content(schema)
	d.add(diags...)
	at := content.Attributes
	t.UpstreamFile = d.str(at["upstream_file"])
	t.Upstream = d.str(at["upstream"])
	t.Test = d.argv(at["test"])
	t.Reload = d.argv(at["reload"])
	t.PidFile = d.str(at["pid_file"])
	t.Socket = d.str(at["socket"])
	t.Backend = d.str(at["backend"])
	t.FromServers = d.strList(at["from_servers"])
	t.ToServers = d.strList(at["to_servers"])
	t.Set = d.argv(at["set"])
	t.Get = d.argv(at["get"])
	return t
}

func (d *decoder) decodeCheck(b *hcl.Block) *Check {
	content, diags := b.Body.Content(checkSchema)
	d.add(diags...)
	at := content.Attributes
	c := &Check{
		Name:             b.Labels[0],
		DeclRange:        b.DefRange,
		Target:           d.strDefault(at["target"], "to"),
		DataPlanesSynced: d.boolean(at["data_planes_synced"], false),
	}
	if rb := d.singleBlock(content.Blocks, "request"); rb != nil {
		rc, diags := rb.Body.Content(requestSchema)
		d.add(diags...)
		ra := rc.Attributes
		c.Request = &Request{
			DeclRange: rb.DefRange,
			Method:    d.strDefault(ra["method"], "GET"),
			Path:      d.str(ra["path"]),
			Headers:   d.valueMap(ra["headers"]),
			Body:      d.str(ra["body"]),
		}
	}
	if eb := d.singleBlock(content.Blocks, "expect"); eb != nil {
		ec, diags := eb.Body.Content(expectSchema)
		d.add(diags...)
		ea := ec.Attributes
		c.Expect = &Expect{
			DeclRange:    eb.DefRange,
			Status:       d.integer(ea["status"]),
			Headers:      d.strMap(ea["headers"]),
			BodyContains: d.str(ea["body_contains"]),
			JSONPath:     d.strMap(ea["json_path"]),
		}
	}
	return c
}

func (d *decoder) decodeAnalysis(b *hcl.Block) *Analysis {
	content, diags := b.Body.Content(analysisSchema)
	d.add(diags...)
	at := content.Attributes
	return &Analysis{
		Name:             b.Labels[0],
		DeclRange:        b.DefRange,
		Prometheus:       d.value(at["prometheus"]),
		Query:            d.str(at["query"]),
		Max:              d.float(at["max"]),
		Min:              d.float(at["min"]),
		Interval:         d.strDefault(at["interval"], "30s"),
		Failures:         d.integer(at["failures"]),
		Compare:          d.str(at["compare"]),
		ErrorRateMargin:  d.float(at["error_rate_margin"]),
		P99LatencyMargin: d.str(at["p99_latency_margin"]),
		Margin:           d.float(at["margin"]),
		MinRequests:      d.integer(at["min_requests"]),
		MaxWindow:        d.str(at["max_window"]),
		OnNoData:         d.str(at["on_no_data"]),
	}
}

func (d *decoder) decodeRollout(b *hcl.Block) *Rollout {
	content, diags := b.Body.Content(rolloutSchema)
	d.add(diags...)
	r := &Rollout{DeclRange: b.DefRange}
	for _, sb := range content.Blocks.OfType("step") {
		sc, diags := sb.Body.Content(stepSchema)
		d.add(diags...)
		r.Steps = append(r.Steps, &Step{
			DeclRange: sb.DefRange,
			Weight:    d.integer(sc.Attributes["weight"]),
			Pause:     d.str(sc.Attributes["pause"]),
		})
	}
	if len(r.Steps) == 0 {
		d.errorf(b.DefRange, "Empty rollout", "A rollout needs at least one step, the last with weight = 100: step { weight = 100 }.")
	}
	return r
}

func (d *decoder) decodeNotify(b *hcl.Block) *Notify {
	n := &Notify{Kind: b.Labels[0], KindRange: b.LabelRanges[0], DeclRange: b.DefRange}
	schema, ok := notifySchemas[n.Kind]
	if !ok {
		d.errorf(b.LabelRanges[0], "Unknown notifier", "notify %q is not a notifier Upshift has; use slack or webhook.%s", n.Kind, DidYouMean(n.Kind, NotifyKinds))
		return nil
	}
	content, diags := b.Body.Content(schema)
	d.add(diags...)
	n.WebhookURL = d.value(content.Attributes["webhook_url"])
	n.URL = d.value(content.Attributes["url"])
	n.Secret = d.value(content.Attributes["secret"])
	return n
}
