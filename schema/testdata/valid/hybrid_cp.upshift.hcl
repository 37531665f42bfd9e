# Hybrid control planes, dual-cluster: traffic and rollout optional; a DP sync check.
upgrade "p" {
  cluster  = "c"
  strategy = "dual_cluster"
  mode     = "hybrid_cp"
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
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
  check "dps" { data_planes_synced = true }
}
