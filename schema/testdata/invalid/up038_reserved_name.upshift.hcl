# A plan named like the agent's own journal of poll requests.
upgrade "upshift.agent.poll-requests" { # ERROR: UP038
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
