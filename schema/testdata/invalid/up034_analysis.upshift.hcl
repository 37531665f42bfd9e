# An analysis without a query or a bound.
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
  analysis "errors" { # ERROR: UP034
    prometheus = "http://prometheus:9090"
  }
  analysis "side_without_margin" {
    prometheus = "http://prometheus:9090"
    query      = "sum(rate(kong_http_requests_total{code=~\"5..\",version=\"{version}\"}[1m]))" # ERROR: UP034
    max        = 1
  }
  analysis "margin_without_side" {
    prometheus = "http://prometheus:9090"
    query      = "sum(rate(kong_http_requests_total{code=~\"5..\"}[1m]))"
    margin     = 0.01 # ERROR: UP034
  }
  analysis "min_requests_on_prometheus" {
    prometheus   = "http://prometheus:9090"
    query        = "sum(rate(kong_http_requests_total{code=~\"5..\"}[1m]))"
    max          = 1
    min_requests = 10 # ERROR: UP034
  }
  rollout {
    step {
      weight = 50
      pause  = "1m"
    }
    step { weight = 100 }
  }
}
