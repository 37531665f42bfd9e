package backup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// selfSigned returns a PEM certificate and key for name.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4102444800, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}

// populateAll writes, through the Admin API, at least one entity of every
// kind kongsim stores, with the fields a real configuration sets (foreign
// keys of every kind, arrays, maps, records, tags).
func populateAll(t *testing.T, c *gokong.Client, withKeys bool) {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	certPEM, keyPEM := selfSigned(t, "api.example.test")
	cert, err := c.Certificates.Create(ctx, &gokong.Certificate{Cert: &certPEM, Key: &keyPEM, Tags: gokong.StringSlice("edge")})
	if err != nil {
		t.Fatal(err)
	}
	must(c.SNIs.Create(ctx, &gokong.SNI{Name: gokong.String("api.example.test"), Certificate: cert}))
	caPEM, _ := selfSigned(t, "ca.example.test")
	ca, err := c.CACertificates.Create(ctx, &gokong.CACertificate{Cert: &caPEM})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Services.Create(ctx, &gokong.Service{Name: gokong.String("orders"), Host: gokong.String("orders.internal"),
		Protocol: gokong.String("https"), Port: gokong.Int(8443), Path: gokong.String("/v1"), Retries: gokong.Int(3),
		ClientCertificate: cert, TLSVerify: gokong.Bool(true), TLSVerifyDepth: gokong.Int(2), CACertificates: []*string{ca.ID},
		Tags: gokong.StringSlice("team-a", "prod")})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("orders-r"), Service: svc,
		Paths: gokong.StringSlice("/orders", "~/orders/[0-9]+$"), Methods: gokong.StringSlice("GET", "POST"),
		Hosts: gokong.StringSlice("api.example.test"), Headers: map[string][]string{"x-env": {"prod"}},
		StripPath: gokong.Bool(false), RegexPriority: gokong.Int(10), Tags: gokong.StringSlice("team-a")})
	if err != nil {
		t.Fatal(err)
	}
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("rate-limiting"), Route: rt,
		Config: gokong.Configuration{"minute": 20, "policy": "local"}, Tags: gokong.StringSlice("limits")}))
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("key-auth"), Service: svc}))
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("acl"), Service: svc, Config: gokong.Configuration{"allow": []string{"buyers"}}}))
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("cors"), Config: gokong.Configuration{"origins": []string{"*"}}}))
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("prometheus"), Enabled: gokong.Bool(false)}))
	alice, err := c.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("alice"), CustomID: gokong.String("a-1"), Tags: gokong.StringSlice("vip")})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := c.Consumers.Create(ctx, &gokong.Consumer{CustomID: gokong.String("b-2")})
	if err != nil {
		t.Fatal(err)
	}
	must(c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("correlation-id"), Consumer: alice}))
	must(c.KeyAuths.Create(ctx, alice.ID, &gokong.KeyAuth{Key: gokong.String("alice-key"), Tags: gokong.StringSlice("k")}))
	must(c.BasicAuths.Create(ctx, alice.ID, &gokong.BasicAuth{Username: gokong.String("alice"), Password: gokong.String("pw")}))
	must(c.HMACAuths.Create(ctx, bob.ID, &gokong.HMACAuth{Username: gokong.String("bob"), Secret: gokong.String("s3")}))
	must(c.JWTAuths.Create(ctx, bob.ID, &gokong.JWTAuth{Key: gokong.String("bob-iss"), Secret: gokong.String("jwt-secret"), Algorithm: gokong.String("HS256")}))
	must(c.ACLs.Create(ctx, alice.ID, &gokong.ACLGroup{Group: gokong.String("buyers")}))
	must(c.Oauth2Credentials.Create(ctx, bob.ID, &gokong.Oauth2Credential{Name: gokong.String("bob-app"), ClientID: gokong.String("bob-client"),
		ClientSecret: gokong.String("bob-secret"), RedirectURIs: gokong.StringSlice("https://bob.example.test/cb")}))
	up, err := c.Upstreams.Create(ctx, &gokong.Upstream{Name: gokong.String("orders.up"), Algorithm: gokong.String("least-connections"), Tags: gokong.StringSlice("team-a")})
	if err != nil {
		t.Fatal(err)
	}
	must(c.Targets.Create(ctx, up.ID, &gokong.Target{Target: gokong.String("10.0.0.1:8443"), Weight: gokong.Int(50)}))
	must(c.Targets.Create(ctx, up.ID, &gokong.Target{Target: gokong.String("10.0.0.2:8443")}))
	must(c.Vaults.Create(ctx, &gokong.Vault{Name: gokong.String("env"), Prefix: gokong.String("my-env"), Config: gokong.Configuration{"prefix": "KONG_"}}))
	if withKeys {
		set, err := c.KeySets.Create(ctx, &gokong.KeySet{Name: gokong.String("jwks")})
		if err != nil {
			t.Fatal(err)
		}
		must(c.Keys.Create(ctx, &gokong.Key{Name: gokong.String("k1"), KID: gokong.String("k1"), Set: set,
			JWK: gokong.String(`{"kid":"k1","kty":"oct","k":"c2VjcmV0"}`)}))
	}
}

// TestFingerprintDBOnKongTables: on Kong's own tables (kongsim on
// PostgreSQL), the SQL fingerprint of the database equals the fingerprint
// of a decK dump of the same node, for a configuration with every kind
// kongsim stores, at the first and last versions of the range the
// project upgrades between.
func TestFingerprintDBOnKongTables(t *testing.T) {
	for _, v := range []string{"3.4.2", "3.9.1"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			dsn := bootstrapped(t, v)
			n := startSim(t, kongsim.Config{Version: v, DSN: dsn})
			c := kongClient(t, n)
			populateAll(t, c.GoKong(), true)

			sqlFP := dbFingerprint(t, dsn)
			d, err := Dump(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			deckFP, err := d.Fingerprint()
			if err != nil {
				t.Fatal(err)
			}
			if sqlFP.Hash != deckFP.Hash {
				t.Fatalf("SQL fingerprint %s %v != decK fingerprint %s %v", sqlFP.Hash, sqlFP.Counts, deckFP.Hash, deckFP.Counts)
			}
			want := map[string]int64{"certificates": 1, "snis": 1, "ca_certificates": 1, "services": 1, "routes": 1, "plugins": 6,
				"consumers": 2, "keyauth_credentials": 1, "basicauth_credentials": 1, "hmacauth_credentials": 1, "jwt_secrets": 1,
				"acls": 1, "oauth2_credentials": 1, "upstreams": 1, "targets": 2, "vaults": 1, "key_sets": 1, "keys": 1}
			for k, w := range want {
				if sqlFP.Counts[k] != w {
					t.Errorf("counts[%s] = %d, want %d (all: %v)", k, sqlFP.Counts[k], w, sqlFP.Counts)
				}
			}
		})
	}
}

// TestFingerprintNoopPatchOnKongTables: a PATCH that sets the values an
// entity already has moves its updated_at column and not the fingerprint;
// a real change moves it.
func TestFingerprintNoopPatchOnKongTables(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	gk := kongClient(t, n).GoKong()
	populateAll(t, gk, true)
	// Age every updated_at so the PATCHes below visibly move them.
	for _, tb := range []string{"services", "routes", "plugins", "consumers", "upstreams"} {
		execSQL(t, dsn, `UPDATE `+tb+` SET updated_at = to_timestamp(1000)`)
	}
	before := dbFingerprint(t, dsn)

	if _, err := gk.Services.Update(ctx, &gokong.Service{ID: gokong.String("orders"), Port: gokong.Int(8443)}); err != nil {
		t.Fatal(err)
	}
	if _, err := gk.Routes.Update(ctx, &gokong.Route{ID: gokong.String("orders-r"), StripPath: gokong.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := gk.Consumers.Update(ctx, &gokong.Consumer{ID: gokong.String("alice"), CustomID: gokong.String("a-1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := gk.Upstreams.Update(ctx, &gokong.Upstream{ID: gokong.String("orders.up"), Algorithm: gokong.String("least-connections")}); err != nil {
		t.Fatal(err)
	}
	plugins, err := gk.Plugins.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		if *p.Name == "rate-limiting" {
			if _, err := gk.Plugins.Update(ctx, &gokong.Plugin{ID: p.ID, Config: gokong.Configuration{"minute": 20}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	moved := queryString(t, dsn, `SELECT string_agg(tb, ',' ORDER BY tb) FROM (
		SELECT 'services' AS tb FROM services WHERE name = 'orders' AND updated_at > to_timestamp(1000)
		UNION ALL SELECT 'routes' FROM routes WHERE name = 'orders-r' AND updated_at > to_timestamp(1000)
		UNION ALL SELECT 'consumers' FROM consumers WHERE username = 'alice' AND updated_at > to_timestamp(1000)
		UNION ALL SELECT 'upstreams' FROM upstreams WHERE name = 'orders.up' AND updated_at > to_timestamp(1000)
		UNION ALL SELECT 'plugins' FROM plugins WHERE name = 'rate-limiting' AND updated_at > to_timestamp(1000)) AS x`)
	if moved != "consumers,plugins,routes,services,upstreams" {
		t.Fatalf("the no-op PATCHes moved updated_at on %q only", moved)
	}
	if got := dbFingerprint(t, dsn); got.Hash != before.Hash {
		t.Fatalf("no-op PATCHes changed the fingerprint: %s -> %s", before.Hash, got.Hash)
	}
	for _, p := range plugins {
		if *p.Name == "rate-limiting" {
			if _, err := gk.Plugins.Update(ctx, &gokong.Plugin{ID: p.ID, Config: gokong.Configuration{"minute": 21}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := dbFingerprint(t, dsn); got.Hash == before.Hash {
		t.Fatal("a plugin config change did not change the fingerprint")
	}
}

func queryString(t *testing.T, dsn, sql string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(sql), err)
	}
	return s
}
