package kong

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	gokong "github.com/kong/go-kong/kong"
)

// TLS says how to verify an https Admin or Status API and, for mutual
// TLS, which client certificate to present. Each of CA, Cert and Key is a
// file path or, when it starts with "-----BEGIN", the PEM itself (from an
// environment variable). There is deliberately no way to skip
// verification: an answer from an unverified node is no evidence.
type TLS struct {
	CA         string // PEM CA certificates, added to the system roots
	Cert, Key  string // client certificate and its key; both or neither
	ServerName string // name expected in the server's certificate; sent as SNI
}

func (t TLS) zero() bool { return t == TLS{} }

// Config builds the tls.Config t describes. The CA is added to a copy of
// the system roots, so public certificates keep verifying (SSL_CERT_FILE
// would replace them).
func (t TLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := pemOf(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", describePEM(t.CA))
		}
		cfg.RootCAs = roots
	}
	switch {
	case t.Cert != "" && t.Key == "":
		return nil, errors.New("tls cert_file is given without key_file")
	case t.Cert == "" && t.Key != "":
		return nil, errors.New("tls key_file is given without cert_file")
	case t.Cert != "":
		certPEM, err := pemOf(t.Cert)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file: %w", err)
		}
		keyPEM, err := pemOf(t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls key_file: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The error names no key material.
			return nil, fmt.Errorf("tls cert_file %s, key_file %s: %w", describePEM(t.Cert), describePEM(t.Key), err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// HTTPClient is a plain HTTP client (no token) that verifies as t says,
// for requests the driver does not make itself (the /metrics scrapes).
func (t TLS) HTTPClient(timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var err error
	if tr.TLSClientConfig, err = t.Config(); err != nil {
		return nil, err
	}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

func isPEM(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") }

// pemOf reads a path, or returns inline PEM as is.
func pemOf(s string) ([]byte, error) {
	if isPEM(s) {
		return []byte(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, err // *PathError names the file
	}
	return b, nil
}

// describePEM names a value for messages: its path, never inline PEM.
func describePEM(s string) string {
	if isPEM(s) {
		return "(inline PEM)"
	}
	return s
}

// ErrTokenRejected: the node answered 401/403 to the admin token (or to
// its absence). The node is up; the plan's credentials are wrong.
var ErrTokenRejected = errors.New("Kong rejected the admin token")

// explain turns a transport or API error into one that names its cause
// first: a certificate problem as the x509 error with the plan's remedy,
// a 401/403 as ErrTokenRejected. Other errors lose only the *url.Error
// wrapper, which repeats the URL the Error already names.
func explain(err error) error {
	var api *gokong.APIError
	if errors.As(err, &api) && (api.Code() == 401 || api.Code() == 403) {
		return fmt.Errorf("%w: %w", ErrTokenRejected, api)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var hn x509.HostnameError
	if errors.As(err, &hn) {
		return fmt.Errorf("TLS: %w (set tls { server_name } to the name in the certificate)", hn)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("TLS: %w (the server's certificate did not verify; the plan's tls { ca_file, server_name } say which CA and name to trust)", cv.Err)
	}
	if s := err.Error(); errors.Is(err, errClientCertRequired) || strings.Contains(s, "certificate required") || strings.Contains(s, "bad certificate") {
		return fmt.Errorf("TLS: %w (the server wants a client certificate: tls { cert_file, key_file })", err)
	}
	return err
}

var errClientCertRequired = errors.New("no client certificate was accepted")

// clientCertCheck turns the 400 page a TLS front (nginx) answers when it
// requires a client certificate and got none it accepts into an error
// that says so; Kong's parser would see only an HTML body.
type clientCertCheck struct{ next http.RoundTripper }

func (c clientCertCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest || resp.TLS == nil {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if s := string(body); strings.Contains(s, "No required SSL certificate") || strings.Contains(s, "SSL certificate error") {
		return nil, fmt.Errorf("HTTP 400 from the TLS front: %w", errClientCertRequired)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, nil
}
