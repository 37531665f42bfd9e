package kong

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestParseDSNEnv: the DSN forms Kong's environment is built from, and
// what each becomes. TLS variables appear only when the DSN names an
// sslmode (PGSSLMODE does not count: Y's kong.conf decides then).
func TestParseDSNEnv(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCert(t, dir)
	t.Setenv("PGPASSFILE", filepath.Join(dir, "no-pgpass"))
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGSSLMODE", "require")
	base := []string{"KONG_PG_HOST=db.example", "KONG_PG_PORT=6432", "KONG_PG_DATABASE=kong", "KONG_PG_USER=kong"}
	for _, c := range []struct {
		name, dsn string
		want      []string // besides base
	}{
		{"url", "postgres://kong:s3cret@db.example:6432/kong",
			[]string{"KONG_PG_PASSWORD=s3cret"}},
		{"password in the query, require", "postgres://kong@db.example:6432/kong?password=q%20pw&sslmode=require",
			[]string{"KONG_PG_PASSWORD=q pw", "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=on"}},
		{"keyword/value, disable", "host=db.example port=6432 user=kong dbname=kong password='p \\'w' sslmode=disable",
			nil}, // checked below
		{"prefer", "postgresql://kong@db.example:6432/kong?sslmode=prefer",
			[]string{"KONG_PG_PASSWORD=", "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=off"}},
		{"verify-full with client certificate", fmt.Sprintf("host=db.example port=6432 user=kong dbname=kong sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s", ca, cert, key),
			[]string{"KONG_PG_PASSWORD=", "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=on", "KONG_PG_SSL_VERIFY=on",
				"KONG_LUA_SSL_TRUSTED_CERTIFICATE=" + ca, "KONG_PG_SSL_CERT=" + cert, "KONG_PG_SSL_CERT_KEY=" + key}},
		{"verify-ca", fmt.Sprintf("postgres://kong@db.example:6432/kong?sslmode=verify-ca&sslrootcert=%s", url.QueryEscape(ca)),
			[]string{"KONG_PG_PASSWORD=", "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=on", "KONG_PG_SSL_VERIFY=on", "KONG_LUA_SSL_TRUSTED_CERTIFICATE=" + ca}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := ParseDSN(c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			got := db.Env()
			if c.want == nil {
				if !slices.Contains(got, "KONG_PG_SSL=off") || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "KONG_PG_SSL_") }) {
					t.Errorf("env %q", got)
				}
				if db.Host != "db.example" || db.Port != 6432 || db.User != "kong" || db.Database != "kong" || db.Password != "p 'w" {
					t.Errorf("db %+v", db)
				}
				return
			}
			want := append(append([]string(nil), base...), c.want...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("env\n got %q\nwant %q", got, want)
			}
		})
	}

	// The password from the environment when the DSN has none.
	t.Setenv("PGPASSWORD", "from-env")
	db, err := ParseDSN("postgres://kong@db.example:6432/kong")
	if err != nil || db.Password != "from-env" {
		t.Errorf("PGPASSWORD: %+v %v", db, err)
	}
	// Errors never show the DSN's password.
	for _, dsn := range []string{"postgres://kong:topsecret@db.example:notaport/kong", "postgres://kong:topsecret@db.example/kong?sslmode=bogus", "host=db password=topsecret sslmode"} {
		if _, err := ParseDSN(dsn); err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("ParseDSN(%q): %v", dsn, err)
		}
	}
}

// TestCommandDSNReachesKong runs kongsim's kong (which reads KONG_PG_SSL*
// as Kong does) through Command with databases parsed by ParseDSN: a
// keyword/value DSN works, and sslmode=require reaches Kong: against the
// test server, which has no TLS, kong refuses to connect.
func TestCommandDSNReachesKong(t *testing.T) {
	bin := kongsimKong(t)
	dsn := testenv.Postgres(t).NewDatabase(t)
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	kv := fmt.Sprintf("host=%s port=%s user=%s dbname=%s", u.Hostname(), u.Port(), u.User.Username(), strings.TrimPrefix(u.Path, "/"))
	run := func(dsn string, args ...string) (Result, error) {
		t.Helper()
		db, err := ParseDSN(dsn)
		if err != nil {
			t.Fatalf("ParseDSN: %v", err)
		}
		return Command{Argv: []string{bin}, DB: db, Env: []string{"KONG_VERSION=3.9.1"}}.Run(ctx, args...)
	}
	if res, err := run(kv, "migrations", "bootstrap"); err != nil {
		t.Fatalf("bootstrap with a keyword/value DSN: %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	// No sslmode: nothing set, kongsim's default (off) applies.
	plain := *u
	plain.RawQuery = ""
	if res, err := run(plain.String(), "migrations", "list"); err != nil || res.ExitCode != 0 {
		t.Fatalf("list without sslmode: %v exit %d\n%s%s", err, res.ExitCode, res.Stdout, res.Stderr)
	}
	req := plain
	req.RawQuery = "sslmode=require"
	res, err := run(req.String(), "migrations", "list")
	if err == nil || !strings.Contains(strings.ToLower(res.Stderr+res.Stdout), "tls") {
		t.Fatalf("list with sslmode=require on a server without TLS: err %v\n%s%s", err, res.Stdout, res.Stderr)
	}
}

// writeCert writes a self-signed CA certificate and a client certificate
// with its key (PEM) into dir.
func writeCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upshift test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "root.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	for p, b := range map[string]*pem.Block{ca: {Type: "CERTIFICATE", Bytes: der}, cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}
