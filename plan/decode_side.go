package plan

import "github.com/hashicorp/hcl/v2"

func (d *decoder) decodeSide(b *hcl.Block) *Side {
	content, diags := b.Body.Content(sideSchema)
	d.add(diags...)
	at := content.Attributes
	s := &Side{
		DeclRange:  b.DefRange,
		Version:    d.str(at["version"]),
		AdminURL:   d.value(at["admin_url"]),
		AdminToken: d.value(at["admin_token"]),
		StatusURL:  d.value(at["status_url"]),
		ProxyURL:   d.value(at["proxy_url"]),
		Kong:       d.argv(at["kong"]),
		Start:      d.argv(at["start"]),
		Stop:       d.argv(at["stop"]),
	}
	if db := d.singleBlock(content.Blocks, "database"); db != nil {
		s.Database = d.decodeDatabase(db)
	}
	if tb := d.singleBlock(content.Blocks, "tls"); tb != nil {
		s.TLS = d.decodeTLS(tb)
	}
	names := map[string]hcl.Range{}
	for _, nb := range content.Blocks.OfType("node") {
		if d.unique(names, nb, "node") {
			s.Nodes = append(s.Nodes, d.decodeNode(nb))
		}
	}
	return s
}

func (d *decoder) decodeNode(b *hcl.Block) *Node {
	content, diags := b.Body.Content(nodeSchema)
	d.add(diags...)
	at := content.Attributes
	n := &Node{
		Name:       b.Labels[0],
		DeclRange:  b.DefRange,
		AdminURL:   d.value(at["admin_url"]),
		AdminToken: d.value(at["admin_token"]),
		StatusURL:  d.value(at["status_url"]),
		ProxyURL:   d.value(at["proxy_url"]),
		Start:      d.argv(at["start"]),
		Stop:       d.argv(at["stop"]),
	}
	if tb := d.singleBlock(content.Blocks, "tls"); tb != nil {
		n.TLS = d.decodeTLS(tb)
	}
	return n
}

func (d *decoder) decodeTLS(b *hcl.Block) *TLS {
	content, diags := b.Body.Content(tlsSchema)
	d.add(diags...)
	at := content.Attributes
	return &TLS{
		DeclRange:  b.DefRange,
		CAFile:     d.value(at["ca_file"]),
		CertFile:   d.value(at["cert_file"]),
		KeyFile:    d.value(at["key_file"]),
		ServerName: d.value(at["server_name"]),
	}
}

func (d *decoder) decodeDatabase(b *hcl.Block) *Database {
	content, diags := b.Body.Content(databaseSchema)
	d.add(diags...)
	at := content.Attributes
	return &Database{DeclRange: b.DefRange, Kind: d.strDefault(at["kind"], "postgres"), DSN: d.value(at["dsn"])}
}

func (d *decoder) decodeControlPlane(b *hcl.Block) *ControlPlane {
	content, diags := b.Body.Content(controlPlaneSchema)
	d.add(diags...)
	at := content.Attributes
	cp := &ControlPlane{
		DeclRange:  b.DefRange,
		Version:    d.str(at["version"]),
		AdminURL:   d.value(at["admin_url"]),
		AdminToken: d.value(at["admin_token"]),
	}
	if tb := d.singleBlock(content.Blocks, "tls"); tb != nil {
		cp.TLS = d.decodeTLS(tb)
	}
	return cp
}
