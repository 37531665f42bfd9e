# A client certificate without its key, a key without its certificate.
upgrade "p" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"
  from {
    version = "3.8.0"
    tls {
      cert_file = "/etc/upshift/client.pem" # ERROR: UP045
    }
    node "x1" {
      admin_url = "https://x1:8444"
      proxy_url = "http://x1:8000"
    }
  }
  to {
    version = "3.9.1"
    node "y1" {
      admin_url = "https://y1:8444"
      proxy_url = "http://y1:8000"
      tls { key_file = env("KONG_CLIENT_KEY") } # ERROR: UP045
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
