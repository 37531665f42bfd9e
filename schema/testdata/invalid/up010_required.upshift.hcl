# dual_cluster needs Y database and kong; backup.
upgrade "p" { # ERROR: UP010
  cluster  = "c"
  strategy = "dual_cluster"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to { # ERROR: UP010 ERROR: UP010
    version   = "3.9.1"
    admin_url = "http://y:8001"
  }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  check "up" { # ERROR: UP010
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
