package kong

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestClientTLSPrivateCAAndMutualTLS: nginx terminates TLS in front of a
// kongsim Admin API with a certificate from a private CA for a name that
// is not the address, and requires a client certificate. Each missing
// piece of the tls settings is an error naming its cause; with all of
// them the client reads the node.
func TestClientTLSPrivateCAAndMutualTLS(t *testing.T) {
	n := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off"})
	admin, err := url.Parse(n.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	ca := testenv.NewCA(t, "upshift test CA")
	srvCert, srvKey := ca.Issue(t, "kong-admin.internal", false)
	cliCert, cliKey := ca.Issue(t, "upshift", true)
	front := testenv.Nginx(t, testenv.NginxConfig{
		Servers: []testenv.NginxServer{{Addr: admin.Host}},
		TLS:     &testenv.NginxTLS{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: ca.CertFile},
	})
	ctx := context.Background()
	info := func(tc TLS) (NodeInfo, error) {
		c, err := New(Options{AdminURL: front.URL(), TLS: tc})
		if err != nil {
			t.Fatalf("new client: %v", err)
		}
		return c.Info(ctx)
	}

	_, err = info(TLS{ServerName: "kong-admin.internal"})
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) || !strings.Contains(err.Error(), ": TLS: x509: certificate signed by unknown authority") {
		t.Fatalf("no CA: %v", err)
	}
	if _, err = info(TLS{CA: ca.CertFile}); err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Fatalf("CA without the server's name: %v", err)
	}
	_, err = info(TLS{CA: ca.CertFile, ServerName: "kong-admin.internal"})
	if !errors.Is(err, errClientCertRequired) || !strings.Contains(err.Error(), "cert_file, key_file") {
		t.Fatalf("no client certificate: %v", err)
	}
	// The key as inline PEM, as an env() value carries it.
	keyPEM, err := os.ReadFile(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	full := TLS{CA: ca.CertFile, ServerName: "kong-admin.internal", Cert: cliCert, Key: string(keyPEM)}
	got, err := info(full)
	if err != nil || got.Version.String() != "3.9.1" {
		t.Fatalf("full tls: %+v %v", got, err)
	}
	c, err := New(Options{AdminURL: front.URL(), TLS: full})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ready(ctx, kongrelease.MustParse("3.9.1")); err != nil {
		t.Fatalf("readiness over mutual TLS: %v", err)
	}
}

// TestTLSConfig: the CA is added to the system roots (not replacing
// them); a certificate without its key, an unreadable file or a file
// without a certificate is an error naming the file, never the key.
func TestTLSConfig(t *testing.T) {
	ca := testenv.NewCA(t, "upshift test CA")
	cert, key := ca.Issue(t, "upshift", true)
	sys, err := x509.SystemCertPool()
	if err != nil || sys == nil || len(sys.Subjects()) == 0 { //nolint:staticcheck // counting is all we need
		t.Skip("no system roots on this machine")
	}
	cfg, err := TLS{CA: ca.CertFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cfg.RootCAs.Subjects()), len(sys.Subjects())+1; got != want { //nolint:staticcheck
		t.Fatalf("roots: %d subjects, want the system's %d plus the CA", got, want-1)
	}
	if _, err := (TLS{Cert: cert}).Config(); err == nil || !strings.Contains(err.Error(), "without key_file") {
		t.Fatalf("cert without key: %v", err)
	}
	if _, err := (TLS{CA: "/nonexistent/ca.pem"}).Config(); err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Fatalf("missing CA file: %v", err)
	}
	if _, err := (TLS{CA: key}).Config(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
	keyPEM, _ := os.ReadFile(key)
	if _, err := (TLS{Cert: cert, Key: strings.Replace(string(keyPEM), "A", "B", 3)}).Config(); err == nil || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("bad inline key: %v", err)
	}
}

// TestClientTokenRejected: a 401 (or 403) to the admin token is
// ErrTokenRejected, reported as such, not as a transport failure.
func TestClientTokenRejected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Invalid credentials. Token or User credentials required"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{AdminURL: srv.URL, Token: "wrong-token"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	if !errors.Is(err, ErrTokenRejected) || !strings.Contains(err.Error(), "rejected the admin token") || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("401: %v", err)
	}
}
