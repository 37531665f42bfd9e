package preflight

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
)

// TestDumpXMatchesDecK: the preflight's own layout of X's entities is
// decK's (backup.Dump: state.Get and file.KongStateToContent) wherever the
// rules read it: every key of the file but the consumers' credentials and
// groups, with the same nesting, order, scope names and fields, so the
// rules index the same entities and report the same findings.
func TestDumpXMatchesDecK(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	conf := `_format_version: "2.1"
services:
- name: billing
  url: http://127.0.0.1:9
  routes:
  - name: invoices
    paths: ["/invoices/\\d+$"]
    plugins:
    - name: key-auth
  - paths: ["/unnamed"]
  plugins:
  - name: rate-limiting
    config: {minute: 5, policy: local}
- name: assets
  url: http://127.0.0.1:9
routes:
- name: public
  paths: ["/v1/(?!internal)"]
  plugins:
  - name: cors
consumers:
- username: alice
  keyauth_credentials:
  - key: k1
  plugins:
  - name: rate-limiting
    config: {minute: 1, policy: local}
- custom_id: c-2
plugins:
- name: correlation-id
- name: request-termination
  route: invoices
  consumer: alice
  config: {status_code: 403}
- name: pre-function
  service: assets
  route: public
  config:
    access: ["kong.log.info('hello')"]
upstreams:
- name: up
  targets:
  - target: 127.0.0.1:9001
  - target: 127.0.0.1:9000
certificates:
- cert: |
` + indent(certPEM, "    ") + `
  key: |
` + indent(keyPEM, "    ") + `
  snis:
  - name: b.example
  - name: a.example
ca_certificates:
- cert: |
` + indent(certPEM, "    ") + `
`
	ctx := context.Background()
	for _, v := range []string{"2.8.5", "3.9.1"} {
		x, err := kongsim.Start(ctx, kongsim.Config{Version: v, Database: "off", DeclarativeConfig: []byte(conf),
			AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		t.Cleanup(func() { _ = x.Stop() })
		xc, err := kong.New(kong.Options{AdminURL: x.AdminURL()})
		if err != nil {
			t.Fatal(err)
		}
		d, err := backup.Dump(ctx, xc)
		if err != nil {
			t.Fatalf("%s: decK's dump: %v", v, err)
		}
		want, err := dumpContent(d.Workspaces)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := dumpX(ctx, xc)
		if err != nil {
			t.Fatalf("%s: dumpX: %v", v, err)
		}
		got, err := dumpContent(mine)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range objects(want.Raw["consumers"]) {
			for _, k := range []string{"keyauth_credentials", "hmacauth_credentials", "jwt_secrets", "basicauth_credentials", "oauth2_credentials", "acls", "mtls_auth_credentials", "groups"} {
				delete(c, k)
			}
		}
		if n := want.Entities(); n != 17 {
			t.Fatalf("%s: decK's dump indexes %d entities, want 17 (the fixture did not load whole)", v, n)
		}
		if !reflect.DeepEqual(got.Raw, want.Raw) {
			g, _ := json.MarshalIndent(got.Raw, "", " ")
			w, _ := json.MarshalIndent(want.Raw, "", " ")
			t.Errorf("%s: layout differs from decK's\ngot:\n%s\nwant:\n%s", v, g, w)
		}
	}
}

func objects(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pre)
}

// selfSigned is a CA certificate and its key, PEM.
func selfSigned(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "preflight test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, DNSNames: []string{"a.example", "b.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}
