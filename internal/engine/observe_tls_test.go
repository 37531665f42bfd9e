package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestObserveTLS: a plan's tls blocks reach the Kong clients. nginx
// terminates TLS for a kongsim Admin API with a private CA's certificate
// for a name other than the address, and requires a client certificate.
// Rolling node "a" uses its side's tls block (CA, server_name, client
// certificate with the key from env()) and is read; node "b"'s own block
// has no client certificate and Y's has no CA (the system roots do not
// know the private CA): each is unreachable
// with its cause named (no --format json needed), and the key is not in
// the observation. A node that answers 401 is Rejected, not unreachable.
func TestObserveTLS(t *testing.T) {
	n := obsStartSim(t, "3.9.1", "")
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
	keyPEM, err := os.ReadFile(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p := loadPlan(t, fmt.Sprintf(`
upgrade "obs-tls" {
  cluster  = "c1"
  strategy = "rolling"
  mode     = "dbless"
  from {
    version = "3.9.1"
    tls {
      ca_file     = %[1]q
      server_name = "kong-admin.internal"
      cert_file   = %[2]q
      key_file    = env("KONG_CLIENT_KEY")
    }
    node "a" { admin_url = %[3]q }
    node "b" {
      admin_url = %[3]q
      tls {
        ca_file     = %[1]q
        server_name = "kong-admin.internal"
      }
    }
  }
  to {
    version   = "3.9.1"
    admin_url = %[3]q
    tls { server_name = "kong-admin.internal" }
  }
}`, ca.CertFile, cliCert, front.URL()))
	o, err := NewObserver(p, envMap(map[string]string{"KONG_CLIENT_KEY": string(keyPEM)}))
	if err != nil {
		t.Fatal(err)
	}
	obs := observe(t, o)
	if len(obs.FromNodes) != 2 {
		t.Fatalf("from nodes: %+v", obs.FromNodes)
	}
	if a := obs.FromNodes[0]; !a.Reachable || a.Version != "3.9.1" {
		t.Errorf("node a (side's tls, mutual TLS): %+v", a)
	}
	if b := obs.FromNodes[1]; b.Reachable || !strings.Contains(b.Error, "client certificate: tls { cert_file, key_file }") {
		t.Errorf("node b (no client certificate): %+v", b)
	}
	if y := obs.To; y == nil || y.Reachable || y.Rejected || !strings.Contains(y.Error, "TLS: x509: certificate signed by unknown authority") {
		t.Errorf("Y (no ca_file): %+v", y)
	}
	js, _ := json.Marshal(obs)
	if strings.Contains(string(js), "PRIVATE KEY") {
		t.Errorf("the client key is in the observation: %s", js)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Invalid credentials. Token or User credentials required"}`))
	}))
	t.Cleanup(srv.Close)
	p = loadPlan(t, fmt.Sprintf(`
upgrade "obs-401" {
  cluster  = "c1"
  strategy = "blue_green"
  mode     = "dbless"
  from {
    version     = "3.9.1"
    admin_url   = %[1]q
    admin_token = env("KONG_ADMIN_TOKEN")
  }
  to {
    version   = "3.9.1"
    admin_url = %[1]q
  }
}`, srv.URL))
	if o, err = NewObserver(p, envMap(map[string]string{"KONG_ADMIN_TOKEN": "wrong-token"})); err != nil {
		t.Fatal(err)
	}
	obs = observe(t, o)
	if x := obs.From; x == nil || !x.Rejected || x.Refused || !strings.Contains(x.Error, "rejected the admin token") {
		t.Errorf("X answering 401: %+v", x)
	}
	s := &state{p: p, obs: obs, h: readHistory(nil, "")}
	if probs := guardProblems(s); len(probs) == 0 || !strings.Contains(probs[0], "X rejected the admin token") || strings.Contains(probs[0], "wrong-token") {
		t.Errorf("guard: %q", probs)
	}
}

// TestMetricsSideTLS: compare = "kong_metrics" scrapes each node with the
// client its tls block (or its side's) describes.
func TestMetricsSideTLS(t *testing.T) {
	ca := testenv.NewCA(t, "upshift test CA")
	p := loadPlan(t, fmt.Sprintf(`
upgrade "metrics-tls" {
  cluster  = "c1"
  strategy = "rolling"
  mode     = "dbless"
  from {
    version = "3.9.1"
    tls { ca_file = %q }
    node "a" { admin_url = "https://a:8444" }
  }
  to {
    version = "3.9.1"
    node "b" { admin_url = "http://b:8001" }
  }
}`, ca.CertFile))
	b := &observerBuilder{p: p, env: envMap(nil), o: &Observer{}}
	from, err := metricsSide(b, p.From)
	if err != nil || len(from.URLs) != 1 || len(from.Clients) != 1 || from.Clients[0] == nil {
		t.Fatalf("from: %+v %v", from, err)
	}
	to, err := metricsSide(b, p.To)
	if err != nil || len(to.Clients) != 1 || to.Clients[0] != nil {
		t.Fatalf("to: %+v %v", to, err)
	}
}
