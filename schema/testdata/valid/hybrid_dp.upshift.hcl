# Hybrid data planes, rolling: the control plane (3.9.1) accepts Y (3.9.0).
upgrade "p" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "hybrid_dp"
  from {
    version = "3.8.0"
    node "x1" {
      admin_url = "http://x1:8001"
      proxy_url = "http://x1:8000"
    }
  }
  to {
    version = "3.9.0"
    node "y1" {
      admin_url = "http://y1:8001"
      proxy_url = "http://y1:8000"
    }
  }
  control_plane {
    version   = "3.9.1"
    admin_url = "http://cp:8001"
  }
  backup { dir = "/var/lib/upshift" }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  check "dps" { data_planes_synced = true }
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
