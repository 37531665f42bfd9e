# Blue-green for an LTS to LTS hop.
upgrade "p" {
  cluster  = "c"
  strategy = "blue_green" # ERROR: UP008
  from {
    version   = "3.4.3.12"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to {
    version   = "3.10.0.2" # INFO: UP044
    admin_url = "http://y:8001"
    proxy_url = "http://y:8000"
    kong      = ["kong"]
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
