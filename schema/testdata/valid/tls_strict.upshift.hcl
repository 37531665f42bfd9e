# Rolling DB-less nodes behind TLS: a private CA and a client certificate
# (mutual TLS) for the side, a node with its own server name; linted with
# --strict-env, so the files are read.
upgrade "p" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"
  from {
    version = "3.8.0"
    tls {
      ca_file     = "testdata/tls/ca.pem"
      cert_file   = "testdata/tls/client.pem"
      key_file    = "testdata/tls/client-key.pem"
      server_name = "kong-admin.internal"
    }
    node "x1" {
      admin_url = "https://x1:8444"
      proxy_url = "http://x1:8000"
      tls {
        ca_file     = "testdata/tls/ca.pem"
        server_name = "x1.kong-admin.internal"
      }
    }
  }
  to {
    version = "3.9.1"
    tls { ca_file = "testdata/tls/ca.pem" }
    node "y1" {
      admin_url = "https://y1:8444"
      proxy_url = "http://y1:8000"
    }
  }
  backup { dir = "/var/lib/upshift" }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
  analysis "same" {
    compare           = "kong_metrics"
    error_rate_margin = 0.01
  }
  rollout {
    step {
      weight = 50
      pause  = "1m"
    }
    step { weight = 100 }
  }
}
