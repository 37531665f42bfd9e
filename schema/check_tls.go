package schema

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/upshift-dev/upshift/plan"
)

// namedTLS is one tls block with its path in the plan ("from.node[\"a\"]").
type namedTLS struct {
	path string
	t    *plan.TLS
}

func tlsBlocks(p *plan.Plan) []namedTLS {
	var out []namedTLS
	for _, s := range []struct {
		name string
		side *plan.Side
	}{{"from", p.From}, {"to", p.To}} {
		if s.side == nil {
			continue
		}
		if s.side.TLS != nil {
			out = append(out, namedTLS{s.name + ".tls", s.side.TLS})
		}
		for _, n := range s.side.Nodes {
			if n.TLS != nil {
				out = append(out, namedTLS{fmt.Sprintf("%s.node[%q].tls", s.name, n.Name), n.TLS})
			}
		}
	}
	if cp := p.ControlPlane; cp != nil && cp.TLS != nil {
		out = append(out, namedTLS{"control_plane.tls", cp.TLS})
	}
	return out
}

// checkTLS applies UP045: a client certificate needs its key (and the key
// its certificate). Under StrictEnv, where the plan runs, the files are
// read as the Kong client will read them: each must be readable, the CA
// must hold a certificate, and the certificate must match its key.
func (l *linter) checkTLS() {
	for _, nt := range tlsBlocks(l.plan) {
		t := nt.t
		switch {
		case t.CertFile.Given() && !t.KeyFile.Given():
			l.reportf(ruleTLS, t.CertFile.Range, "%s: cert_file without key_file.", nt.path)
		case t.KeyFile.Given() && !t.CertFile.Given():
			l.reportf(ruleTLS, t.KeyFile.Range, "%s: key_file without cert_file.", nt.path)
		}
		if !l.opts.StrictEnv {
			continue
		}
		read := func(attr string, v plan.Value) ([]byte, bool) {
			if !v.Set {
				return nil, false
			}
			s, err := v.Resolve(l.opts.LookupEnv)
			if err != nil || s == "" {
				return nil, false // UP026/UP027 say why
			}
			if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") {
				return []byte(s), true
			}
			b, err := os.ReadFile(s)
			if err != nil {
				l.reportf(ruleTLS, v.Range, "%s.%s: %v.", nt.path, attr, err)
				return nil, false
			}
			return b, true
		}
		if b, ok := read("ca_file", t.CAFile); ok && !x509.NewCertPool().AppendCertsFromPEM(b) {
			l.reportf(ruleTLS, t.CAFile.Range, "%s.ca_file holds no PEM certificate.", nt.path)
		}
		cert, okc := read("cert_file", t.CertFile)
		key, okk := read("key_file", t.KeyFile)
		if okc && okk {
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				l.reportf(ruleTLS, t.CertFile.Range, "%s: cert_file and key_file do not load as a pair: %v.", nt.path, err)
			}
		}
	}
}
