# Two plans in one file; every kind of attribute.
upgrade "b-one" {
  cluster     = "prod"
  strategy    = "dual_cluster"
  mode        = "traditional"
  depends_on  = ["a"]
  acknowledge = ["UP020"]
  from {
    version     = "3.8.0"
    admin_url   = env("X_ADMIN")
    admin_token = env("X_TOKEN")
    proxy_url   = "http://x:8000"
    database { dsn = env("X_DSN") }
    start = ["./deploy.sh", "start", "x"]
  }
  to {
    version   = "3.9.1"
    admin_url = "${env("Y_ADMIN")}"
    database {
      dsn  = "postgres://kong@y/kong"
      kind = "postgres"
    }
    kong = ["env", "KONG_PG_HOST={pg_host}", "kong"]
  }
  backup {
    dir    = "/b"
    keep   = 3
    verify = true
  }
  traffic "haproxy" {
    socket       = "/run/haproxy.sock"
    backend      = "kong"
    from_servers = ["x1"]
    to_servers   = ["y1"]
  }
  check "k" {
    target = "from"
    request {
      method  = "POST"
      path    = "/p"
      headers = { apikey = env("API_KEY"), "X-Trace" = "1" }
      body    = file("body.json")
    }
    expect {
      status        = 201
      headers       = { "Content-Type" = "application/json" }
      body_contains = "ok"
      json_path     = { "data.0.name" = "orders" }
    }
  }
  analysis "e" {
    prometheus = "http://prom:9090"
    query      = "up"
    min        = 1
    interval   = "10s"
    failures   = 3
  }
  rollout {
    step {
      weight = 10
      pause  = "1m"
    }
    step { weight = 100 }
  }
  rehearse = true
  approve  = ["decommission"]
  notify "webhook" { url = env("HOOK") }
  rollback { restore = true }
}

upgrade "b-two" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "hybrid_dp"
  from {
    version = "3.8.0"
    node "x1" { admin_url = "http://x1:8001" }
  }
  to {
    version = "3.9.0"
    node "y1" {
      admin_url = "http://y1:8001"
      start     = ["./start", "y1"]
    }
  }
  control_plane {
    version   = "3.9.1"
    admin_url = "http://cp:8001"
  }
}
