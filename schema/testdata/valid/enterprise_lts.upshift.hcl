# Enterprise LTS to LTS with kong placeholders.
upgrade "p" {
  cluster  = "c"
  strategy = "dual_cluster"
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
    database { dsn = "postgres://kong@y-db/kong" }
    kong      = ["ssh", "kong-y", "KONG_PG_HOST={pg_host}", "KONG_PG_PORT={pg_port}", "KONG_PG_DATABASE={pg_database}", "KONG_PG_USER={pg_user}", "kong"]
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
