package plan

import "github.com/hashicorp/hcl/v2"

// One schema per block type (style.md #2). HCL reports an attribute or
// block that is not listed as "Unsupported argument" / "Unsupported block
// type" with a "Did you mean" hint, and a missing Required attribute as
// "Missing required argument".

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "upgrade", LabelNames: []string{"name"}}},
}

var upgradeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "cluster", Required: true},
		{Name: "depends_on"},
		{Name: "strategy", Required: true},
		{Name: "mode"},
		{Name: "acknowledge"},
		{Name: "rehearse"},
		{Name: "max_downtime"},
		{Name: "approve"},
		{Name: "approve_in_advance"},
		{Name: "run"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "from"},
		{Type: "to"},
		{Type: "control_plane"},
		{Type: "freeze"},
		{Type: "backup"},
		{Type: "traffic", LabelNames: []string{"kind"}},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "analysis", LabelNames: []string{"name"}},
		{Type: "rollout"},
		{Type: "notify", LabelNames: []string{"kind"}},
		{Type: "rollback"},
	},
}

var sideSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true},
		{Name: "admin_url"},
		{Name: "admin_token"},
		{Name: "status_url"},
		{Name: "proxy_url"},
		{Name: "kong"},
		{Name: "start"},
		{Name: "stop"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "database"},
		{Type: "node", LabelNames: []string{"name"}},
		{Type: "tls"},
	},
}

var nodeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "admin_url", Required: true},
		{Name: "admin_token"},
		{Name: "status_url"},
		{Name: "proxy_url"},
		{Name: "start"},
		{Name: "stop"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
}

// tlsSchema: how to reach an https Admin/Status API. There is no
// skip-verify: an unverified Admin API is not positive evidence.
var tlsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"}, {Name: "server_name"},
	},
}

var databaseSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "dsn", Required: true},
		{Name: "kind"},
	},
}

var controlPlaneSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true},
		{Name: "admin_url", Required: true},
		{Name: "admin_token"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
}

var freezeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "start"}, {Name: "end"}},
}

var backupSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "dir", Required: true},
		{Name: "keep"},
		{Name: "verify"},
		{Name: "verify_dsn"},
	},
}

var trafficSchemas = map[string]*hcl.BodySchema{
	"nginx": {Attributes: []hcl.AttributeSchema{
		{Name: "upstream_file", Required: true},
		{Name: "upstream", Required: true},
		{Name: "test"},
		{Name: "reload", Required: true},
		{Name: "pid_file"},
	}},
	"haproxy": {Attributes: []hcl.AttributeSchema{
		{Name: "socket", Required: true},
		{Name: "backend", Required: true},
		{Name: "from_servers", Required: true},
		{Name: "to_servers", Required: true},
	}},
	"command": {Attributes: []hcl.AttributeSchema{
		{Name: "set", Required: true},
		{Name: "get"},
	}},
}

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "target"}, {Name: "data_planes_synced"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "request"}, {Type: "expect"}},
}

var requestSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "method"}, {Name: "path", Required: true}, {Name: "headers"}, {Name: "body"},
	},
}

var expectSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "status"}, {Name: "headers"}, {Name: "body_contains"}, {Name: "json_path"},
	},
}

var analysisSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "prometheus"}, {Name: "query"}, {Name: "max"}, {Name: "min"},
		{Name: "interval"}, {Name: "failures"},
		{Name: "compare"}, {Name: "error_rate_margin"}, {Name: "p99_latency_margin"},
		{Name: "margin"}, {Name: "min_requests"}, {Name: "max_window"}, {Name: "on_no_data"},
	},
}

var rolloutSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "step"}},
}

var stepSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "weight", Required: true}, {Name: "pause"}},
}

var notifySchemas = map[string]*hcl.BodySchema{
	"slack":   {Attributes: []hcl.AttributeSchema{{Name: "webhook_url", Required: true}}},
	"webhook": {Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}, {Name: "secret"}}},
}

var rollbackSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "requested"}, {Name: "on_gate_failure"}, {Name: "restore"}},
}
