# A comparison that cannot be evaluated: at 100% before any pause that
# could measure X's baseline, and at 0% where Y serves nothing.
upgrade "p" {
  cluster  = "c"
  strategy = "dual_cluster"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://y:8001"
    proxy_url = "http://y:8000"
    database { dsn = "postgres://kong@y-db/kong" }
    kong      = ["kong"]
  }
  backup { dir = "/var/lib/upshift" }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
  rollout {
    step {
      weight = 0 # ERROR: UP043
      pause  = "1m"
    }
    step { weight = 100 }
  }
  analysis "y_vs_x" {
    prometheus = "http://prometheus:9090"
    query      = "sum(rate(kong_http_requests_total{code=~\"5..\",side=\"{side}\"}[1m]))"
    margin     = 0.01
  }
}
upgrade "q" {
  cluster  = "d"
  strategy = "dual_cluster"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://y:8001"
    proxy_url = "http://y:8000"
    database { dsn = "postgres://kong@y-db/kong" }
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
    step { weight = 100 } # ERROR: UP043
  }
}
upgrade "r" {
  cluster  = "e"
  strategy = "dual_cluster"
  from {
    version   = "3.9.1"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to {
    version   = "3.9.1" # INFO: UP003
    admin_url = "http://y:8001"
    proxy_url = "http://y:8000"
    database { dsn = "postgres://kong@y-db/kong" }
    kong      = ["kong"]
  }
  backup { dir = "/var/lib/upshift" }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
  analysis "same_version_twice" {
    prometheus = "http://prometheus:9090"
    query      = "sum(rate(kong_http_requests_total{code=~\"5..\",version=\"{version}\"}[1m]))" # ERROR: UP043
    margin     = 0.01
  }
  rollout {
    step {
      weight = 50
      pause  = "1m"
    }
    step { weight = 100 }
  }
}
