# rehearse on a rolling plan parses and does nothing (no database to
# rehearse migrations on): lint says so.
upgrade "p" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"
  rehearse = true # WARNING: UP040
  from {
    version = "3.8.0"
    node "x1" {
      admin_url = "http://x1:8001"
      proxy_url = "http://x1:8000"
    }
  }
  to {
    version = "3.9.1"
    node "y1" {
      admin_url = "http://y1:8001"
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
